"""Shows the parser's accuracy on the labelled utterances in pytest's terminal summary."""

from __future__ import annotations

import pytest

ACCURACY_LINES = pytest.StashKey[list[str]]()


@pytest.fixture
def report_accuracy(request: pytest.FixtureRequest) -> list[str]:
    """A list whose lines are printed at the end of the run."""
    return request.config.stash.setdefault(ACCURACY_LINES, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    lines = config.stash.get(ACCURACY_LINES, [])
    if lines:
        terminalreporter.section("conversation parser")
        for line in lines:
            terminalreporter.write_line(line)
