"""CSV metric files: every value a finite number, every problem at its file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from okrsync.metrics.csv import MetricFileError, read_csv_samples


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onb.csv"
    path.write_text(text)
    return path


def test_rows_become_samples(tmp_path: Path) -> None:
    path = write(tmp_path, "at,value\n2026-11-01,70\n2026-11-02T12:00:00+02:00,71.5\n")
    samples = read_csv_samples(path, "ONB-1")
    assert [(s.value, s.at) for s in samples] == [
        (70.0, datetime(2026, 11, 1, tzinfo=UTC)),
        (71.5, datetime(2026, 11, 2, 10, tzinfo=UTC)),
    ]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "Infinity", "1e999"])
def test_a_value_that_is_not_finite_is_a_problem_at_its_line(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"at,value\n2026-11-01,70\n2026-11-02,{value}\n")
    with pytest.raises(MetricFileError) as problem:
        read_csv_samples(path, "ONB-1")
    assert str(problem.value) == f"{path}:3: value {value!r} is not a finite number"


def test_a_row_for_another_kr_is_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "kr,at,value\nONB-2,2026-11-01,nan\nONB-1,2026-11-01,70\n")
    assert [s.value for s in read_csv_samples(path, "ONB-1")] == [70.0]


def test_a_word_is_not_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, "at,value\n2026-11-01,seventy\n")
    with pytest.raises(MetricFileError, match=r"onb\.csv:2: value 'seventy' is not a number"):
        read_csv_samples(path, "ONB-1")
