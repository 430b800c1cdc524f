"""`synth`: run jobs, inspect datasets, validate synthetic data.

Heavy libraries are imported inside each command so `synth --help` stays instant.
"""

from __future__ import annotations

import atexit
import gc
import shutil
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from core.errors import ConfigError, Interrupted, SynthpipeError, ValidationFailedError
from flows.launch import Mode, Plan

if TYPE_CHECKING:
    from datastore import DatasetVersion, StagingDir
    from job.config import JobConfig


class _OneLineErrors(TyperGroup):
    """Ends any command that raises one of our errors (or an OS error naming a path) with that
    error on one line, exit 1, so no input reaches the user as a traceback; commands that tell
    bad input from failures (exit 2) catch their errors themselves."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SynthpipeError, OSError) as exc:
            raise _fail(f"{type(exc).__name__}: {exc}") from None


# The last exit hook (hooks run last-registered first): move every object out of the garbage
# collector's reach before the interpreter tears its modules down. Teardown otherwise collects
# again and again over every object GX, SDV and torch created: 1.3-2.8 s of exit on 2 cores after
# importing them, 0.2-0.3 s frozen. The other exit hooks (Prefect's log and event flushes) and the
# flush of stdout / stderr still run; only objects in reference cycles go unfinalized.
atexit.register(gc.freeze)

app = typer.Typer(
    cls=_OneLineErrors,
    help="Synthpipe: generate, validate and version synthetic datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List, inspect and clean versioned datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
server_app = typer.Typer(
    help="A local Prefect server that `synth run` reuses (runs, tasks and artifacts in its UI).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")

RootOption = Annotated[
    str | None,  # not Path: an fsspec URL (s3://bucket/x) must keep its "//"
    typer.Option(
        "--root", help="Dataset store root, path or URL (default: ./data or $SYNTHPIPE_DATA_ROOT)."
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


ModeOption = Annotated[
    Mode,
    typer.Option(
        "--mode",
        help="auto: the Prefect flow if a server is configured (PREFECT_API_URL) or running "
        "(`synth server start`) or the job's runner is Dask, else in this process without "
        "Prefect; local: always without Prefect; prefect: always the flow (a temporary "
        "server when none is configured).",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="On an error, show its Python traceback (and the flow's)."
    ),
]


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="Job YAML file.")],
    root: RootOption = None,
    mode: ModeOption = Mode.AUTO,
    verbose: VerboseOption = False,
) -> None:
    """Run a job: fit the generator, sample, validate, publish a dataset version."""
    from job.config import load_job

    job = _load_job_or_exit(load_job, job_file, root, verbose)
    from flows.launch import plan, run_generate

    chosen = plan(job, mode)
    _say_where(chosen)
    version = _run_or_exit(
        lambda: run_generate(job, chosen, tracebacks=verbose), job, verbose, local=chosen.local
    )
    _say_published(version)


def _say_where(chosen: Plan) -> None:
    typer.echo(f"Running {'locally' if chosen.local else 'as a Prefect flow'}: {chosen.reason}.")


def _load_job_or_exit(
    load: Callable[[Path], Any], job_file: Path, root: str | None, verbose: bool
) -> Any:
    """The job file parsed by `load` (exit 2 naming the problem), with `--root` applied."""
    try:
        job = load(job_file)
    except SynthpipeError as exc:
        raise _fail_with(exc, str(exc), 2, verbose) from None
    return job if root is None else job.model_copy(update={"root": str(root)})


def _fail_with(exc: BaseException, message: str, code: int, verbose: bool) -> typer.Exit:
    """`_fail(message, code)`, after `exc`'s traceback when `--verbose` asked for it."""
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    return _fail(message, code)


def _fail_validation(
    summary: str,
    failures: list[str],
    report: str | None,
    *,
    stored: str | None = None,
    verbose: bool = False,
    exc: BaseException | None = None,
) -> typer.Exit:
    """A failed gate's ending: the verdict, one line per failing check, what was stored, where
    the report is; exit 1 (`--verbose`: the traceback first)."""
    if verbose and exc is not None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    typer.secho(f"Validation FAILED: {summary}", fg=typer.colors.RED, err=True)
    for line in failures:
        typer.echo(f"  {line}", err=True)
    for line in (stored, f"Report: {report}" if report else None):
        if line:
            typer.echo(line, err=True)
    return typer.Exit(1)


def _say_published(version: DatasetVersion) -> None:
    rows = version.manifest.rows
    typer.secho(f"Published {version.ref} ({rows} rows) at {version.path}", fg="green")


def _run_or_exit(
    run: Callable[[], str], job: Any, verbose: bool, *, local: bool = True
) -> DatasetVersion:
    """Run a job that publishes a version, a line per phase on stderr (with a spinner on a
    terminal; a flow's only while its server starts, `synthpipe.console`). A failed gate ends
    with the verdict, the failing checks and the report (exit 1); our other errors with one
    line naming them (exit 1); Ctrl-C or SIGTERM with exit 128 + the signal once the run has
    unwound (staging removed, the flow run cancelled, the temporary server stopped)."""
    from core.progress import reporting
    from synthpipe.console import ConsoleReporter

    try:
        live = None if local else {"start"}
        with _signals_interrupt(), reporting(ConsoleReporter(live=live)):
            ref = run()
    except ValidationFailedError as exc:
        stored = f"Quarantined {exc.version}: stored, never `latest`."
        raise _fail_validation(
            exc.summary, exc.failures, exc.report, stored=stored, verbose=verbose, exc=exc
        ) from None
    except SynthpipeError as exc:
        raise _fail_with(exc, f"{type(exc).__name__}: {exc}", 1, verbose) from None
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        message = f"Interrupted by {name}: the run stopped, nothing was published."
        raise _fail(message, 128 + signum) from None
    from datastore import open_dataset

    return open_dataset(ref, root=job.root)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM stops a run the way Ctrl-C does: an exception in the main thread unwinds it, so
    every `finally` and abort runs (the default SIGTERM ends the process on the spot)."""

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def augment(
    job_file: Annotated[Path, typer.Argument(help="Augment job YAML file.")],
    root: RootOption = None,
    mode: ModeOption = Mode.AUTO,
    verbose: VerboseOption = False,
) -> None:
    """Augment a labelled training set: add class-conditional synthetic records, measure the
    downstream uplift on the real holdout, publish real + synthetic as a dataset version."""
    from job.augment_config import load_augment_job

    job = _load_job_or_exit(load_augment_job, job_file, root, verbose)
    from flows.launch import plan, run_augment
    from pipeline.augment import UPLIFT_MD

    chosen = plan(job, mode)
    _say_where(chosen)
    version = _run_or_exit(
        lambda: run_augment(job, chosen, tracebacks=verbose), job, verbose, local=chosen.local
    )
    typer.echo(version.read_text(UPLIFT_MD))
    _say_published(version)


@app.command()
def validate(
    real: Annotated[
        Path,
        typer.Option(
            "--real",
            help="Real table (CSV or Parquet), or real images: 'digits', a folder of class "
            "folders, image Parquet or an image dataset version (name@N).",
        ),
    ],
    synthetic: Annotated[
        Path,
        typer.Option(
            "--synthetic", help="Synthetic table or folder; images: class folders or Parquet."
        ),
    ],
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="YAML mapping of gate thresholds.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.json, report.md, report.html + plots/."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the metric subsamples and split.")] = 0,
    target: Annotated[
        str | None, typer.Option("--target", help="Column for the TSTR / TRTR utility check.")
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option("--holdout", help="Real rows the generator never saw (CSV or Parquet)."),
    ] = None,
    holdout_fraction: Annotated[
        float | None,
        typer.Option(
            "--holdout-fraction",
            help="Without --holdout, split this share of --real off as the holdout (seeded by "
            "--seed; default 0.2), so privacy is always checked; meaningful only if the "
            "generator was fitted on the other rows.",
        ),
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option("--publish", help="Also store the synthetic table as a version of NAME."),
    ] = None,
    root: RootOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Validate user-supplied synthetic data against real data (no generator involved).

    Privacy (DCR) and the pair-trends baseline use a real holdout: --holdout, or else a seeded
    --holdout-fraction (default 0.2) of --real, reported; utility also needs --target. Nothing is
    published unless --publish NAME is given.
    """
    from core.progress import reporting
    from job.config import load_yaml_file
    from modalities import FileInputs, files_modality
    from synthpipe.console import ConsoleReporter

    with reporting(ConsoleReporter()):
        try:
            given = FileInputs(
                real=str(real),
                synthetic=synthetic,
                thresholds=(load_yaml_file(thresholds, "Thresholds file") or {})
                if thresholds
                else {},
                seed=seed,
                holdout=holdout,
                holdout_fraction=holdout_fraction,
                target=target,
            )
            validation = files_modality(str(real)).validate_files(given)
            if publish is not None and validation.records is None:
                raise ConfigError(
                    f"--publish stores tables only; {validation.report.kind} data is validated "
                    "without publishing (use --out DIR for the report)."
                )
        except (SynthpipeError, ValueError) as exc:
            raise _fail_with(exc, str(exc), 2, verbose) from None
        for note in validation.notes:
            typer.echo(note)
        report = validation.report
        report_path = None
        if out is not None:
            from pipeline.report import write_report_dir

            report_path = str(write_report_dir(out, report, validation.figures, validation.title))
        if publish is not None:
            try:
                version, html = _publish_validated(publish, root, validation)
            except SynthpipeError as exc:
                raise _fail_with(exc, str(exc), 2, verbose) from None
            typer.echo(f"Stored {version.ref} ({'published' if report.passed else 'quarantined'})")
            report_path = report_path or str(version.path / html)
    from validators.report_view import failing_lines, headline_text, report_view

    typer.echo(headline_text(report))
    if report_path is None:
        typer.echo("The whole report (every check, its figures): add --out DIR.")
    summary = report_view(report).summary
    if not report.passed:
        raise _fail_validation(summary, failing_lines(report), report_path, verbose=verbose)
    typer.secho(f"Validation PASSED: {summary}", fg="green")
    if report_path is not None:
        typer.echo(f"Report: {report_path}")


def _publish_validated(name: str, root: str | None, validation: Any) -> tuple[DatasetVersion, str]:
    """Store validated records as the next version of `name` (quarantined if a gate failed);
    the version and its HTML report's path in it."""
    from datastore import DatasetStore
    from pipeline.publish import commit, staging
    from pipeline.report import stage_report

    report, records = validation.report, validation.records
    with staging(DatasetStore(root), name) as staged:
        staged.write_part(0, records)
        html = stage_report(staged, report, validation.figures, f"{name} validation")
        version = commit(staged, report, rows_expected=len(records), lineage=validation.lineage)
    return version, html


@datasets_app.command("list")
def datasets_list(
    name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    root: RootOption = None,
) -> None:
    """List datasets and their versions (status, rows, latest), and leftovers of killed runs."""
    from datastore import DatasetStore

    store = DatasetStore(root)
    names = [name] if name else store.list_datasets()
    if not names:
        typer.echo(f"No datasets under {store.root}.")
    broken = 0
    for dataset in names:
        try:  # one damaged dataset must not hide the others
            infos = store.list_versions(dataset)
        except SynthpipeError as exc:
            typer.secho(f"{dataset}: {type(exc).__name__}: {exc}", fg="red", err=True)
            broken += 1
            continue
        if not infos:  # only a dataset named on the command line can have none
            known = ", ".join(store.list_datasets()) or "none"
            raise _fail(f"No dataset {dataset!r} under {store.root} (datasets there: {known}).")
        for info in infos:
            latest = "  <- latest" if info.is_latest else ""
            typer.echo(
                f"{dataset}@{info.version}\t{info.status}\t{info.rows} rows\t"
                f"{info.created_at:%Y-%m-%d %H:%M:%S}{latest}"
            )
    leftovers = [d for d in store.staging_dirs() if d.is_leftover(store.leftover_age_s)]
    if leftovers:
        typer.echo(
            f"{len(leftovers)} leftover staging director{_ies(leftovers)} "
            f"of interrupted runs ({_size(sum(d.bytes for d in leftovers))}) under "
            f"{store.root / '.staging'}: `synth datasets clean` lists them, `--yes` removes them."
        )
    if broken:
        raise typer.Exit(1)


@datasets_app.command("clean")
def datasets_clean(
    older_than_hours: Annotated[
        float | None,
        typer.Option(
            "--older-than-hours",
            min=0,
            help="Only leftovers untouched for this many hours (default: any age on a local "
            "store, where running jobs hold locks; 24 on an object store, which has none).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Remove them (without it: a dry run that lists them).")
    ] = False,
    root: RootOption = None,
) -> None:
    """List (or with --yes remove) staging directories left by killed runs; a directory a
    running job holds is never touched."""
    from datastore import DatasetStore

    store = DatasetStore(root)
    older_than_s = store.leftover_age_s if older_than_hours is None else older_than_hours * 3600
    found = store.staging_dirs()
    for staging in found:
        typer.echo(_describe_staging(staging, older_than_s))
    cleaned = store.clean_staging(older_than_s, dry_run=not yes)
    size = _size(sum(d.bytes for d in cleaned))
    if not found:
        typer.echo(f"No staging directories under {store.root / '.staging'}.")
    elif yes:
        typer.echo(f"Removed {len(cleaned)} staging director{_ies(cleaned)} ({size}).")
    else:
        typer.echo(
            f"Dry run: {len(cleaned)} staging director{_ies(cleaned)} ({size}) would be removed; "
            "rerun with --yes to remove them."
        )


def _describe_staging(staging: StagingDir, older_than_s: float) -> str:
    if staging.in_use:
        state = "in use by a running job: kept"
    elif staging.is_leftover(older_than_s):
        state = "leftover"
    else:
        state = "younger than the age limit: kept"
    age = f"{staging.age_s / 3600:.1f} h"
    return f"{staging.path.name}\t{age}\t{_size(staging.bytes)}\t{state}"


def _ies(items: list[Any]) -> str:
    return "y" if len(items) == 1 else "ies"


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB"


@datasets_app.command("show")
def datasets_show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@VERSION.")],
    root: RootOption = None,
) -> None:
    """Show a version: files, schema, lineage summary and validation report."""
    from datastore import DatasetStore

    try:
        version = DatasetStore(root).open(ref, allow_quarantined=True)
    except SynthpipeError as exc:
        raise _fail(str(exc)) from None
    manifest = version.manifest
    lineage = manifest.lineage
    typer.echo(f"{version.ref}  status={manifest.status}  rows={manifest.rows}")
    typer.echo(f"path: {version.path}")
    typer.echo("schema: " + ", ".join(f"{c.name}:{c.type}" for c in manifest.schema_))
    typer.echo(f"generator: {lineage.get('generator')}  seed: {lineage.get('seed')}")
    typer.echo(
        f"source: {lineage.get('source', {}).get('origin')} "
        f"sha256={lineage.get('source', {}).get('fingerprint')}"
    )
    typer.echo(f"code: {lineage.get('code')}")
    typer.echo(f"files: {len(manifest.files)}")
    typer.echo("")
    typer.echo(version.read_text("validation.md"))


CronOption = Annotated[
    str | None, typer.Option("--cron", help="Cron schedule in UTC, e.g. '0 3 * * *'.")
]
IntervalOption = Annotated[
    str | None, typer.Option("--interval", help="Run every N seconds, or e.g. 15m, 6h, 1d.")
]


def _load_jobs(job_files: list[Path], root: Path | None) -> list[JobConfig]:
    from job.config import load_job

    jobs = [load_job(path) for path in job_files]
    return [j.model_copy(update={"root": str(root)}) if root else j for j in jobs]


@app.command()
def deploy(
    job_file: Annotated[Path, typer.Argument(help="Job YAML file.")],
    cron: CronOption = None,
    interval: IntervalOption = None,
    pool: Annotated[
        str | None,
        typer.Option("--pool", help="Work pool (default: the job's resource, cpu or gpu)."),
    ] = None,
    root: RootOption = None,
) -> None:
    """Create or update the job's Prefect deployment in a work pool, with its schedule."""
    from flows.deploy import FLOW_NAME, Schedule, deploy_job, deployment_name

    try:
        schedule = Schedule.parse(cron, interval)
        (job,) = _load_jobs([job_file], root)
        deployed = deploy_job(job, schedule, pool)
    except SynthpipeError as exc:
        raise _fail(str(exc), 2) from None
    name = f"{FLOW_NAME}/{deployment_name(job)}"
    if deployed.created_pool:
        typer.echo(f"Created work pool {deployed.pool!r} (process) on the Prefect server.")
    typer.secho(
        f"Deployed {name} to work pool {deployed.pool!r}, {schedule.describe()}.", fg="green"
    )
    typer.echo(f"Start a worker: prefect worker start --pool {deployed.pool}")
    typer.echo(f"Run it now:     prefect deployment run {name}")


@app.command()
def serve(
    job_files: Annotated[list[Path], typer.Argument(help="Job YAML files.")],
    cron: CronOption = None,
    interval: IntervalOption = None,
    root: RootOption = None,
) -> None:
    """Serve the jobs' deployments from this process (no work pool or worker) until Ctrl-C."""
    from flows.deploy import Schedule, serve_jobs

    try:
        schedule = Schedule.parse(cron, interval)
        serve_jobs(_load_jobs(job_files, root), schedule)
    except SynthpipeError as exc:
        raise _fail(str(exc), 2) from None


@server_app.command("start")
def server_start(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 4200,
) -> None:
    """Start a Prefect server in the background (or find the one already started) and record it
    under the config dir, so every `synth run` reports to it instead of running locally."""
    from flows.server import running_server, start_server

    if running_server() is None:  # a fresh start waits on the server's health check
        typer.echo(f"Starting a Prefect server on 127.0.0.1:{port} (about 10-30 s) …")
    record = start_server(port=port)
    typer.secho(f"Prefect server at {record.url} (pid {record.pid}, log {record.log}).", fg="green")
    typer.echo(f"UI: {record.url.removesuffix('/api')}   stop: synth server stop")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the recorded Prefect server."""
    from flows.server import stop_server

    record = stop_server()
    typer.echo(f"Stopped the Prefect server at {record.url}." if record else "No server recorded.")


@server_app.command("status")
def server_status() -> None:
    """Which Prefect API `synth run` reports to; exit 1 when none (runs then run locally)."""
    import os

    from flows.server import API_URL_ENV, read_record, running_server

    if url := os.environ.get(API_URL_ENV):
        typer.echo(f"{API_URL_ENV}={url}: runs report there.")
        return
    record = running_server()
    if record is not None:
        typer.echo(f"Running: {record.url} (pid {record.pid}, log {record.log}).")
        return
    stale = " (the recorded one is gone)" if read_record() else ""
    raise _fail(f"No Prefect server{stale}: `synth run` runs locally; `synth server start`.")


@app.command()
def generators() -> None:
    """List the registered generators."""
    from generators import available_generators, get_generator_class

    names = available_generators()
    classes = [get_generator_class(name) for name in names]
    name_width, kind_width = max(map(len, names)), max(len(k.modality) for k in classes)
    indent = name_width + 2 + kind_width + 2
    width = max(shutil.get_terminal_size((100, 24)).columns - indent, 40)
    for name, klass in zip(names, classes, strict=True):
        # The docstring's first paragraph, whole (its first line alone stops mid-sentence),
        # wrapped under its column.
        summary = " ".join((klass.__doc__ or "").strip().split("\n\n")[0].split())
        lines = textwrap.wrap(summary, width=width) or [""]
        first = f"{name.ljust(name_width)}  {klass.modality.ljust(kind_width)}  {lines[0]}"
        typer.echo("\n".join([first, *(" " * indent + line for line in lines[1:])]))


if __name__ == "__main__":
    app()
