"""`kanaria demo --judge`: what makes the demo's rollback "as expected" once the judge is on."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kanaria.cli.demo import JUDGE_ROLLBACK, Demo, Outcome
from kanaria.platforms.local.state import StateDir

FAILED = "Canary failed! Scaling down podinfo.test"


def demo(judge: bool, tmp_path: Path) -> Demo:
    return Demo("rollback", 20.0, StateDir.at(str(tmp_path)), {}, Console(quiet=True), judge=judge)


def outcome(events: list[str], failed_checks: int) -> Outcome:
    return Outcome("Failed", events, [0, 10, 20, 0], 12.0, None, failed_checks=failed_checks)


def test_a_rollback_by_the_judge_before_a_second_failed_check_is_as_expected(
    tmp_path: Path,
) -> None:
    events = [f"{JUDGE_ROLLBACK}errors: canary 17 of 76 (22.37 %) …", FAILED]
    assert demo(True, tmp_path)._judge(outcome(events, failed_checks=1)) == []


def test_the_threshold_rolling_back_first_is_not(tmp_path: Path) -> None:
    events = ["Rolling back podinfo.test failed checks threshold reached 5", FAILED]
    failures = demo(True, tmp_path)._judge(outcome(events, failed_checks=5))
    assert failures == [f"no event starting {JUDGE_ROLLBACK!r}"]


def test_a_judge_slower_than_two_failed_checks_is_not(tmp_path: Path) -> None:
    events = [f"{JUDGE_ROLLBACK}errors: …", FAILED]
    failures = demo(True, tmp_path)._judge(outcome(events, failed_checks=2))
    assert failures == ["the judge rolled back after 2 failed checks"]


def test_without_the_judge_the_threshold_rollback_is_expected(tmp_path: Path) -> None:
    events = ["Rolling back podinfo.test failed checks threshold reached 5", FAILED]
    assert demo(False, tmp_path)._judge(outcome(events, failed_checks=5)) == []
