"""Phase events: what a run is doing now, and how long each part of it took.

Every long step of a run (load, fit, sample, validate, report, publish) is a `phase`; the parts
of a phase worth seeing on their own (one shard, one group of checks) are `step`s of it. The
pipeline's steps and the validators emit them here, so a local run, a Prefect flow and
`synth validate` report the same events from the same code. Who listens is set once per
process with `reporting` (the CLI installs a console reporter); without one the events go to the
`synthpipe.progress` logger at INFO, where a deployment's worker may collect them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

_LOG = logging.getLogger("synthpipe.progress")


@dataclass
class Phase:
    """One phase (`depth` 0) or step of a phase (`depth` 1). `detail` is what its line says
    beside the name; the code inside the phase may set it once it knows (rows loaded, verdict).
    `bar`: the phase draws its own progress bar (a fit), so a reporter draws no spinner."""

    name: str
    depth: int
    detail: str = ""
    bar: bool = False


class Reporter(Protocol):
    def started(self, phase: Phase) -> None: ...

    def finished(self, phase: Phase, seconds: float) -> None: ...

    def failed(self, phase: Phase, seconds: float) -> None: ...


class LogReporter:
    """Each finished phase as one log line."""

    def started(self, phase: Phase) -> None:
        return None  # a log line per phase, written when it ends (with its time)

    def finished(self, phase: Phase, seconds: float) -> None:
        _LOG.info("%s%s %.1f s %s", "  " * phase.depth, phase.name, seconds, phase.detail)

    def failed(self, phase: Phase, seconds: float) -> None:
        _LOG.info("%s%s failed after %.1f s", "  " * phase.depth, phase.name, seconds)


# Process-wide, not a context variable: steps run in Prefect's worker threads, which do not
# inherit the caller's context.
_reporter: Reporter = LogReporter()


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Send every phase event to `reporter` inside the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield reporter
    finally:
        _reporter = previous


@contextmanager
def phase(name: str, detail: str = "", *, depth: int = 0, bar: bool = False) -> Iterator[Phase]:
    """Report `name` as started now and finished (with its seconds) when the block ends; a
    block that raises is reported failed and the error goes on."""
    event = Phase(name, depth, detail, bar)
    reporter = _reporter
    reporter.started(event)
    started = time.perf_counter()
    try:
        yield event
    except BaseException:
        reporter.failed(event, time.perf_counter() - started)
        raise
    reporter.finished(event, time.perf_counter() - started)


def step(name: str, detail: str = "") -> AbstractContextManager[Phase]:
    """A part of the current phase worth its own line (one shard, one group of checks)."""
    return phase(name, detail, depth=1)
