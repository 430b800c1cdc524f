"""The console side of `core.progress`: one line per finished phase and step on stderr, with its
elapsed time, and on a terminal a spinner naming what runs now (with its own clock), so no step
of `synth run` / `augment` / `validate` is silent.

    load         1.1 s  builtin:wine: 142 training, 36 holdout records
      · quality (SDMetrics)  0.9 s
    validate     5.8 s  table checks: every gate passed

A step's line comes before its phase's, which ends last; a phase with its own progress bar (a
fit) also says when it starts, so the wait before its bar has a line too. The spinner is left
out where another writer owns the terminal's last line: a phase drawing its own progress bar,
and the phases of a Prefect flow run, whose log handler writes to the terminal directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from core.progress import Phase

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

NAME_WIDTH = 9  # the longest phase name, "validate", plus one


class ConsoleReporter:
    """Phase lines on `console` (default: stderr). On a terminal the phases named in `live`
    (default: all) get a spinner; a Prefect flow's run passes only `start` (starting a server,
    before the flow's log handler writes anything)."""

    def __init__(
        self, console: Console | None = None, *, live: Collection[str] | None = None
    ) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)
        self.live_phases = live
        self.live = self.console.is_terminal
        self._status: Status | None = None
        self._phase = ""  # the phase the spinner names
        self._lock = threading.Lock()  # shards' steps end in worker threads

    def started(self, phase: Phase) -> None:
        if phase.bar:  # say what the bar is about before its setup (data, model) starts
            self.console.print(f"{phase.name} … {phase.detail}", style="dim", soft_wrap=True)
        if not self.live:
            return
        with self._lock:
            live = self.live_phases is None or phase.name in self.live_phases
            if phase.depth == 0 and live and not phase.bar:
                self._phase = phase.name
                self._status = self.console.status(_Running(f"{phase.name} …"))
                self._status.start()
            elif self._status is not None:
                self._status.update(_Running(f"{self._phase} · {phase.name} …"))

    def finished(self, phase: Phase, seconds: float) -> None:
        with self._lock:
            if phase.depth == 0:
                self._stop()
                name = f"[bold]{phase.name.ljust(NAME_WIDTH)}[/bold]"
                self.console.print(
                    f"{name} {seconds:6.1f} s  {phase.detail}".rstrip(), soft_wrap=True
                )
            else:
                detail = f"  {phase.detail}" if phase.detail else ""
                line = f"  · {phase.name}  {seconds:.1f} s{detail}"
                self.console.print(line, style="dim", soft_wrap=True)

    def failed(self, phase: Phase, seconds: float) -> None:
        # The error itself ends the command (one line); a phase line would only repeat it.
        with self._lock:
            if phase.depth == 0:
                self._stop()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class _Running:
    """A spinner's text with the seconds since it was set, redrawn on every refresh."""

    def __init__(self, text: str):
        self.text = text
        self.started = time.perf_counter()

    def __rich__(self) -> str:
        return f"{self.text} {time.perf_counter() - self.started:.0f} s"
