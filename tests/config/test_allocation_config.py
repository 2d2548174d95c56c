"""`objectives[].allocation`: a percentage 0-100 of the in-flight weight, at most 100 in
all, carried into the domain's Objective; every problem is `file:line: path: message`."""

from __future__ import annotations

from pathlib import Path

import pytest

from okrsync.config import ConfigError, load_config

CONFIG = """\
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
objectives:
  - id: CO
    title: Company
    allocation: 40
    key_results:
      - {id: CO-1, title: Revenue, baseline: 1, target: 2}
  - id: TEAM
    title: Team
    parent: co
    allocation: 35.5
    key_results:
      - {id: T-1, title: Uptime, baseline: 1, target: 2}
  - id: OPS
    title: Operations
    key_results:
      - {id: O-1, title: Toil, baseline: 1, target: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return [str(problem) for problem in caught.value.problems]


def test_allocation_targets_reach_the_domain(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG), environ={}).config
    company, team, ops = config.domain_objectives()
    assert (company.allocation, team.allocation, ops.allocation) == (40.0, 35.5, None)


def test_targets_may_add_up_to_exactly_100(tmp_path: Path) -> None:
    text = CONFIG.replace("allocation: 35.5", "allocation: 60")
    config = load_config(write(tmp_path, text), environ={}).config
    assert [o.allocation for o in config.domain_objectives()] == [40.0, 60.0, None]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("-1", "Input should be greater than or equal to 0", id="negative"),
        pytest.param("101", "Input should be less than or equal to 100", id="over-100"),
        pytest.param("lots", "Input should be a valid number", id="not-a-number"),
        pytest.param(".nan", "", id="nan"),
    ],
)
def test_an_allocation_outside_0_to_100_is_a_problem(
    tmp_path: Path, value: str, message: str
) -> None:
    path = write(tmp_path, CONFIG.replace("allocation: 40", f"allocation: {value}"))
    [problem] = problems(path)
    assert problem.startswith(f"{path}:6: objectives[0].allocation: {message}"), problem


def test_targets_adding_up_to_more_than_100_are_a_problem(tmp_path: Path) -> None:
    text = CONFIG.replace("allocation: 35.5", "allocation: 50").replace(
        "    title: Operations\n", "    title: Operations\n    allocation: 20\n"
    )
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:17: objectives[2].allocation: allocation targets add up to 110 "
        "(CO 40 + TEAM 50 + OPS 20), more than 100"
    ]
    # Over already at the second objective: the problem sits there.
    path = write(tmp_path, CONFIG.replace("allocation: 35.5", "allocation: 60.25"))
    assert problems(path) == [
        f"{path}:12: objectives[1].allocation: allocation targets add up to 100.25 "
        "(CO 40 + TEAM 60.25), more than 100"
    ]
