"""`core.progress`: phases and steps reach the installed reporter in order, with their detail
and time, a failing block is reported failed, and the previous reporter comes back."""

from __future__ import annotations

import pytest

from core import progress


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, str]] = []

    def started(self, phase: progress.Phase) -> None:
        self.events.append(("started", phase.name, phase.depth, phase.detail))

    def finished(self, phase: progress.Phase, seconds: float) -> None:
        assert seconds >= 0
        self.events.append(("finished", phase.name, phase.depth, phase.detail))

    def failed(self, phase: progress.Phase, seconds: float) -> None:
        self.events.append(("failed", phase.name, phase.depth, phase.detail))


def test_phases_and_steps_reach_the_reporter_in_order_with_their_detail():
    # Setup
    recorder = Recorder()

    # Run
    with progress.reporting(recorder):
        with progress.phase("load") as load:
            load.detail = "12 rows"  # known only once loaded
        with progress.phase("validate"), progress.step("quality"):
            pass

    # Assert
    assert recorder.events == [
        ("started", "load", 0, ""),
        ("finished", "load", 0, "12 rows"),
        ("started", "validate", 0, ""),
        ("started", "quality", 1, ""),
        ("finished", "quality", 1, ""),
        ("finished", "validate", 0, ""),
    ]


def test_a_failing_phase_is_reported_failed_and_the_reporter_is_restored():
    # Setup
    recorder, outer = Recorder(), Recorder()

    # Run
    with progress.reporting(outer):
        with (
            pytest.raises(ValueError, match="bad column"),
            progress.reporting(recorder),
            progress.phase("load"),
        ):
            raise ValueError("bad column")
        with progress.phase("fit"):
            pass

    # Assert
    assert recorder.events == [("started", "load", 0, ""), ("failed", "load", 0, "")]
    assert outer.events == [("started", "fit", 0, ""), ("finished", "fit", 0, "")]
