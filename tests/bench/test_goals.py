"""The benchmarks' verdicts: a goal missed by more than 2x fails the run, a near miss does not."""

from __future__ import annotations

import pytest

from bench.common import Goal, Goals

LATENCY = Goal("p99", 100.0, "ms")
THROUGHPUT = Goal("throughput", 20.0, "/s", at_least=True)


@pytest.mark.parametrize(
    ("goal", "measured", "verdict", "code"),
    [
        (LATENCY, 80.0, "meets", 0),
        (LATENCY, 190.0, "misses", 0),
        (LATENCY, 201.0, "MISSES by more than 2x", 1),
        (THROUGHPUT, 25.0, "meets", 0),
        (THROUGHPUT, 11.0, "misses", 0),
        (THROUGHPUT, 9.0, "MISSES by more than 2x", 1),
        (THROUGHPUT, 0.0, "MISSES by more than 2x", 1),
    ],
)
def test_a_run_fails_only_when_a_goal_is_missed_by_more_than_twice(
    goal: Goal, measured: float, verdict: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    goals = Goals()
    goals.check(goal, measured)

    printed = capsys.readouterr().out
    assert printed.startswith(f"{goal.what}: {measured:.2f} {goal.unit} (goal ")
    assert printed.rstrip().endswith(verdict)
    assert goals.exit_code() == code


def test_one_goal_missed_badly_fails_the_run_whatever_the_others_do() -> None:
    goals = Goals()
    goals.check(LATENCY, 50.0)
    goals.check(THROUGHPUT, 5.0)
    assert goals.exit_code() == 1
