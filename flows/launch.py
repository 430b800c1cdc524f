"""Where a `synth run` / `synth augment` runs: in this process without Prefect, or as a Prefect
flow on a server.

Modes (`--mode`):
- `auto` (default): the Prefect flow when a server is configured (`PREFECT_API_URL`) or running
  (`synth server start`), or when the job's runner is Dask (a Prefect task runner); otherwise
  `pipeline.run.run_job` / `run_augment_job` in this process. Without a server nobody reads a
  run's Prefect record (the temporary server and its UI go away with the run), so a local run
  pays only for its work.
- `local`: always in this process (shards one after another; a Dask runner is not used).
- `prefect`: always the flow, on a temporary server when none is configured.

Light at import (the CLI imports `Mode` for its options): no Prefect, no pipeline, no HTTP client
until a run needs them; the local path never imports Prefect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from core import progress
from core.errors import Interrupted, SynthpipeError

if TYPE_CHECKING:
    from job.augment_config import AugmentJob
    from job.config import JobConfig


class Mode(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    PREFECT = "prefect"


@dataclass(frozen=True)
class Plan:
    """How one run is orchestrated; `api_url` None with `local` False: a temporary server."""

    local: bool
    api_url: str | None
    reason: str


def plan(job: JobConfig | AugmentJob, mode: Mode) -> Plan:
    # An augment job has no runner: its flow samples the shards one after another too.
    dask = getattr(job, "runner", None) is not None and job.runner.kind == "dask"
    if mode is Mode.LOCAL:
        note = "; its Dask runner is not used, shards run one after another" * dask
        return Plan(local=True, api_url=None, reason=f"--mode local{note}")
    from flows.server import configured_api_url

    url = configured_api_url()
    if url is not None:
        return Plan(local=False, api_url=url, reason=f"Prefect server at {url}")
    if mode is Mode.PREFECT:
        return Plan(local=False, api_url=None, reason="--mode prefect, no server configured")
    if dask:
        return Plan(local=False, api_url=None, reason="Dask runner, no server configured")
    return Plan(
        local=True,
        api_url=None,
        reason="no Prefect server configured (`synth server start` or PREFECT_API_URL "
        "records runs in Prefect)",
    )


def run_generate(job: JobConfig, chosen: Plan, *, tracebacks: bool = True) -> str:
    """Run a generation job as `chosen` says; returns the published version's reference.
    The steps report their phases through `core.progress` either way; `tracebacks` False keeps
    the flow's log from printing the traceback of our own errors (their message stays)."""
    if chosen.local:
        from pipeline.run import run_job

        return run_job(job).ref

    def generate_flow() -> Callable[[Any], str]:
        from flows.generate import generate_dataset

        return generate_dataset

    return run_flow(generate_flow, job, chosen.api_url, tracebacks=tracebacks)


def run_augment(job: AugmentJob, chosen: Plan, *, tracebacks: bool = True) -> str:
    """Run an augment job as `chosen` says; returns the published version's reference (phases
    and `tracebacks` as for `run_generate`)."""
    if chosen.local:
        from pipeline.run import run_augment_job

        return run_augment_job(job).ref

    def augment_flow() -> Callable[[Any], str]:
        from flows.augment import augment_dataset

        return augment_dataset

    return run_flow(augment_flow, job, chosen.api_url, tracebacks=tracebacks)


class _NoTracebackOfOurErrors(logging.Filter):
    """Drops the traceback from a flow or task run's log record of one of our errors (a failed
    gate, bad input): its message names the problem, and the command ends saying it again."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, SynthpipeError):
            record.exc_info, record.exc_text = None, None
        return True


# The engines' loggers (`prefect.flow_runs`, `prefect.task_runs`) log a run's error with its
# traceback.
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def run_flow(
    load_flow: Callable[[], Callable[[Any], str]],
    job: Any,
    api_url: str | None,
    *,
    tracebacks: bool = True,
) -> str:
    """`load_flow()(job)` reporting to `api_url`, or to a temporary server started first, so that
    importing the flow (Prefect, the pipeline) overlaps the server's start-up."""
    from flows.server import TemporaryServer

    with ExitStack() as stack:
        if not tracebacks:
            quiet = _NoTracebackOfOurErrors()
            for name in _RUN_LOGGERS:
                logging.getLogger(name).addFilter(quiet)
                stack.callback(logging.getLogger(name).removeFilter, quiet)
        with progress.phase("start") as phase:
            server = stack.enter_context(TemporaryServer()) if api_url is None else None
            flow = load_flow()
            from prefect.exceptions import TerminationSignal
            from prefect.settings import PREFECT_API_URL, temporary_settings

            if server is not None:
                server.wait()
                api_url = server.url
            temporary = "a temporary " if server is not None else ""
            phase.detail = f"the Prefect flow, reporting to {temporary}server at {api_url}"
        with temporary_settings({PREFECT_API_URL: api_url}):
            try:
                return flow(job)
            except TerminationSignal as exc:  # Prefect's own SIGTERM handler inside the flow
                raise Interrupted(exc.signal) from None


def cancel_if_interrupted(flow: Any, flow_run: Any, state: Any) -> None:
    """A flow's `on_crashed` hook: a run stopped by Ctrl-C or SIGTERM was stopped on purpose, so
    record it Cancelled (the engine marks every interrupt Crashed)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import TerminationSignal
    from prefect.states import Cancelled

    if not isinstance(state.data, KeyboardInterrupt | TerminationSignal):
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run.id, Cancelled(message="Stopped by a signal (Ctrl-C or SIGTERM)."), force=True
        )
