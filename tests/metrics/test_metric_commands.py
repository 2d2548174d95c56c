"""`okrsync metric set|list|delete|import` through `okrsync.cli.main`, on a SQLite store:
check-ins with a note and a confidence, check-ins outside the cycle (stored, listed as not
counted, never the status's `current`), deleting exactly one sample, and all-or-nothing
imports whose refusals name `file:line`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main

CONFIG = """\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - {{id: ONB-1, title: Completion, baseline: 68, target: 85, unit: "%"}}
      - {{id: ONB-2, title: Activation, baseline: 10, target: 30}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(CONFIG.format(url=f"sqlite:///{tmp_path / 'okrsync.db'}"))
    return path


def okrsync(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "--log-level", "error", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(capsys: pytest.CaptureFixture[str], config: Path, kr: str) -> dict[str, Any]:
    code, out, err = okrsync(capsys, config, "metric", "list", kr, "--format", "json")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def kr_status(
    capsys: pytest.CaptureFixture[str], config: Path, kr: str, now: str
) -> dict[str, Any]:
    code, out, err = okrsync(capsys, config, "status", "--format", "json", "--now", now)
    assert code == 0, err
    for objective in json.loads(out)["objectives"]:
        for key_result in objective["key_results"]:
            if key_result["id"] == kr:
                found: dict[str, Any] = key_result
                return found
    raise AssertionError(f"{kr} not in the status")


# ------------------------------------------------------------------ set and list


def test_set_with_note_and_confidence_then_list_as_text_and_json(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, err = okrsync(
        capsys, config, "metric", "set", "onb-1", "72.5",
        "--at", "2026-10-05T09:00:00Z", "--note", "after the wizard fix", "--confidence", "0.6",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.strip() == "ONB-1 = 72.5% at 2026-10-05T09:00:00+00:00: recorded"
    code, out, _ = okrsync(capsys, config, "metric", "set", "ONB-1", "74", "--at", "2026-10-12")
    assert code == 0

    # The same instant again (another offset, same moment) is not a second sample.
    code, out, _ = okrsync(
        capsys, config, "metric", "set", "ONB-1", "99", "--at", "2026-10-05T11:00:00+02:00"
    )
    assert code == 0 and "already recorded" in out

    assert listed(capsys, config, "ONB-1") == {
        "kr": "ONB-1",
        "samples": [
            {
                "at": "2026-10-05T09:00:00+00:00",
                "value": 72.5,
                "origin": "manual",
                "note": "after the wizard fix",
                "confidence": 0.6,
                "counted": True,
            },
            {
                "at": "2026-10-12T00:00:00+00:00",
                "value": 74.0,
                "origin": "manual",
                "note": None,
                "confidence": None,
                "counted": True,
            },
        ],
        "metric_error": None,
    }
    code, out, _ = okrsync(capsys, config, "metric", "list", "ONB-1")
    assert code == 0
    assert out.splitlines() == [
        "2026-10-05T09:00:00+00:00  72.5  manual  (confidence 0.6; note: after the wizard fix)",
        "2026-10-12T00:00:00+00:00  74  manual",
    ]
    # Another KR's samples are its own.
    code, out, _ = okrsync(capsys, config, "metric", "list", "ONB-2")
    assert (code, out.strip()) == (0, "ONB-2: no samples")
    assert listed(capsys, config, "ONB-2")["samples"] == []


def test_checkins_outside_the_cycle_are_stored_listed_not_counted_and_never_current(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, _ = okrsync(capsys, config, "metric", "set", "ONB-1", "70", "--at", "2026-10-05")
    assert code == 0 and "outside" not in out
    before = kr_status(capsys, config, "ONB-1", "2026-11-01T00:00:00Z")
    assert (before["current"], before["samples"]) == (70, 1)

    # Before the start and after the end (in UTC, the cycle's zone: 23:30 at -05:00 on the
    # last day is already the next day).
    for value, at in [
        ("99", "2026-09-30T23:59:59Z"),
        ("98", "2027-01-01T00:00:00Z"),
        ("97", "2026-12-31T23:30:00-05:00"),
    ]:
        code, out, err = okrsync(capsys, config, "metric", "set", "ONB-1", value, "--at", at)
        assert code == 0, err
        assert "recorded (outside the cycle: stored, not counted)" in out

    samples = listed(capsys, config, "ONB-1")["samples"]
    assert [(s["value"], s["counted"]) for s in samples] == [
        (99.0, False),
        (70.0, True),
        (98.0, False),
        (97.0, False),
    ]
    code, out, _ = okrsync(capsys, config, "metric", "list", "ONB-1")
    assert [("outside the cycle" in line) for line in out.splitlines()] == [
        True,
        False,
        True,
        True,
    ]

    # The status's current value ignores them, during the cycle and after it.
    for now in ("2026-11-01T00:00:00Z", "2027-01-10T00:00:00Z"):
        after = kr_status(capsys, config, "ONB-1", now)
        assert (after["current"], after["samples"]) == (70, 1), now
        assert after["last_sample_at"] == "2026-10-05T00:00:00Z"


def test_the_cycles_first_and_last_instants_count_and_the_status_agrees(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    for value, at in [("70", "2026-10-01T00:00:00Z"), ("80", "2026-12-31T23:59:59Z")]:
        code, out, _ = okrsync(capsys, config, "metric", "set", "ONB-1", value, "--at", at)
        assert code == 0 and "outside" not in out
    assert [s["counted"] for s in listed(capsys, config, "ONB-1")["samples"]] == [True, True]
    status = kr_status(capsys, config, "ONB-1", "2027-01-02T00:00:00Z")
    assert (status["current"], status["samples"]) == (80, 2)


@pytest.mark.parametrize("confidence", ["1.5", "-0.1", "nan", "high"])
def test_a_confidence_outside_zero_to_one_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, confidence: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(config), "metric", "set", "ONB-1", "70", "--confidence", confidence])
    assert refused.value.code == 2
    assert "--confidence" in capsys.readouterr().err
    assert listed(capsys, config, "ONB-1")["samples"] == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_a_value_that_is_not_finite_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, value: str
) -> None:
    # `--` so that "-inf" is the VALUE, not an option.
    code, _, err = okrsync(capsys, config, "metric", "set", "ONB-1", "--", value)
    assert code == 2 and "finite" in err
    assert listed(capsys, config, "ONB-1")["samples"] == []


@pytest.mark.parametrize(
    "command",
    [
        ["metric", "set", "NOPE-1", "70"],
        ["metric", "list", "NOPE-1"],
        ["metric", "list", "NOPE-1", "--format", "json"],
        ["metric", "delete", "NOPE-1", "--at", "2026-10-05"],
    ],
)
def test_an_unknown_kr_is_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], config: Path, command: list[str]
) -> None:
    code, out, err = okrsync(capsys, config, *command)
    assert code == 2
    assert "no key result 'NOPE-1'" in err and out == ""


# ------------------------------------------------------------------ delete


def test_delete_removes_exactly_that_sample_and_an_unknown_one_exits_1(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    for kr, value, at in [
        ("ONB-1", "70", "2026-10-05T09:00:00Z"),
        ("ONB-1", "72", "2026-10-12T09:00:00Z"),
        ("ONB-1", "74", "2026-10-19T09:00:00Z"),
        ("ONB-2", "15", "2026-10-12T09:00:00Z"),  # same instant, another KR
    ]:
        assert okrsync(capsys, config, "metric", "set", kr, value, "--at", at)[0] == 0

    # The same instant written at another offset.
    code, out, err = okrsync(
        capsys, config, "metric", "delete", "onb-1", "--at", "2026-10-12T11:00:00+02:00"
    )
    assert (code, err) == (0, "")
    assert "ONB-1: deleted the sample at" in out
    assert [(s["value"], s["at"]) for s in listed(capsys, config, "ONB-1")["samples"]] == [
        (70.0, "2026-10-05T09:00:00+00:00"),
        (74.0, "2026-10-19T09:00:00+00:00"),
    ]
    assert [s["value"] for s in listed(capsys, config, "ONB-2")["samples"]] == [15.0]

    # Gone now: README's exit code for "none there" is 1, and nothing else changes.
    code, out, err = okrsync(
        capsys, config, "metric", "delete", "ONB-1", "--at", "2026-10-12T09:00:00Z"
    )
    assert code == 1 and out == ""
    assert "ONB-1 has no sample at 2026-10-12T09:00:00+00:00" in err
    # A second off is not the same instant.
    code, _, _ = okrsync(
        capsys, config, "metric", "delete", "ONB-1", "--at", "2026-10-05T09:00:01Z"
    )
    assert code == 1
    assert len(listed(capsys, config, "ONB-1")["samples"]) == 2
    assert kr_status(capsys, config, "ONB-1", "2026-11-01T00:00:00Z")["current"] == 74


def test_delete_needs_at(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(config), "metric", "delete", "ONB-1"])
    assert refused.value.code == 2


# ------------------------------------------------------------------ import


def write_csv(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "checkins.csv"
    path.write_text(text, encoding=encoding)
    return path


VALID = """\
kr,at,value,note,confidence
ONB-1,2026-10-05T09:00:00Z,70,first look,0.5
onb-2,2026-10-06,12,,
ONB-1,2026-10-12T09:00:00+02:00,72.5,"after the fix, finally",1
ONB-1,2026-09-15,60,before the cycle,
"""


def test_import_stores_every_row_and_a_second_import_adds_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, VALID)
    code, out, err = okrsync(capsys, config, "metric", "import", str(path))
    assert (code, err) == (0, "")
    assert out.strip() == (
        f"{path}: 4 check-ins, 4 new, 0 already recorded; 1 outside the cycle (stored, not counted)"
    )
    assert listed(capsys, config, "ONB-1")["samples"] == [
        {
            "at": "2026-09-15T00:00:00+00:00",
            "value": 60.0,
            "origin": "import",
            "note": "before the cycle",
            "confidence": None,
            "counted": False,
        },
        {
            "at": "2026-10-05T09:00:00+00:00",
            "value": 70.0,
            "origin": "import",
            "note": "first look",
            "confidence": 0.5,
            "counted": True,
        },
        {
            "at": "2026-10-12T07:00:00+00:00",
            "value": 72.5,
            "origin": "import",
            "note": "after the fix, finally",
            "confidence": 1.0,
            "counted": True,
        },
    ]
    assert [(s["value"], s["note"], s["confidence"]) for s in listed(capsys, config, "ONB-2")[
        "samples"
    ]] == [(12.0, None, None)]  # fmt: skip
    assert kr_status(capsys, config, "ONB-1", "2026-11-01T00:00:00Z")["current"] == 72.5

    code, out, _ = okrsync(capsys, config, "metric", "import", str(path))
    assert code == 0 and "4 check-ins, 0 new, 4 already recorded" in out


def test_import_reads_a_file_saved_with_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """Spreadsheets save "CSV UTF-8" with a BOM before the first column's name."""
    path = write_csv(tmp_path, "kr,at,value\nONB-1,2026-10-05,70\n", encoding="utf-8-sig")
    code, _, err = okrsync(capsys, config, "metric", "import", str(path))
    assert (code, err) == (0, "")
    assert [s["value"] for s in listed(capsys, config, "ONB-1")["samples"]] == [70.0]


@pytest.mark.parametrize(
    ("bad_row", "says"),
    [
        ("ONB-1,2026-10-12,nan", "not a finite number"),
        ("ONB-1,2026-10-12,NaN", "not a finite number"),
        ("ONB-1,2026-10-12,inf", "not a finite number"),
        ("ONB-1,2026-10-12,-Infinity", "not a finite number"),
        ("ONB-1,2026-10-12,1e999", "not a finite number"),
        ("ONB-1,2026-10-12,seventy", "not a number"),
        ("ONB-1,2026-10-12,", "not a number"),
        ("ONB-1,12/10/2026,70", "not an ISO-8601"),
        ("ONB-1,2026-13-01,70", "not an ISO-8601"),
        ("ONB-1,,70", "not an ISO-8601"),
        (",2026-10-12,70", "kr is empty"),
        ("ONB-1,2026-10-12,70,,1.5", "confidence"),
        ("ONB-1,2026-10-12,70,,nan", "confidence 'nan' is not a finite number"),
        ("NOPE-1,2026-10-12,70", "no key result NOPE-1"),
    ],
)
def test_one_bad_row_refuses_the_whole_file_with_file_and_line(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, bad_row: str, says: str
) -> None:
    path = write_csv(
        tmp_path,
        "kr,at,value,note,confidence\n"
        "ONB-1,2026-10-05,70,,\n"
        "ONB-2,2026-10-05,12,,\n"
        f"{bad_row}\n"
        "ONB-1,2026-10-19,74,,\n",
    )
    code, out, err = okrsync(capsys, config, "metric", "import", str(path))
    assert code == 2 and out == ""
    assert says in err
    assert listed(capsys, config, "ONB-1")["samples"] == []
    assert listed(capsys, config, "ONB-2")["samples"] == []
    assert f"{path}:4" in err  # the header is line 1


def test_import_of_a_file_without_the_columns_or_that_is_missing_exits_2(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "at,value\n2026-10-05,70\n")
    code, _, err = okrsync(capsys, config, "metric", "import", str(path))
    assert code == 2 and "needs columns kr,at,value (missing kr)" in err
    code, _, err = okrsync(capsys, config, "metric", "import", str(tmp_path / "nope.csv"))
    assert code == 2 and "cannot read" in err
    assert listed(capsys, config, "ONB-1")["samples"] == []
