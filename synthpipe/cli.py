"""`synth`: run jobs, inspect datasets, validate synthetic data.

Heavy libraries are imported inside each command so `synth --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthpipe.errors import SynthpipeError

app = typer.Typer(
    help="Synthpipe: generate, validate and version synthetic datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List and inspect versioned datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="Dataset store root (default: ./data or $SYNTHPIPE_DATA_ROOT)."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="Job YAML file.")],
    root: RootOption = None,
) -> None:
    """Run a job: fit the generator, sample, validate, publish a dataset version."""
    from synthpipe.jobs import load_job

    try:
        job = load_job(job_file)
    except SynthpipeError as exc:
        raise _fail(str(exc), 2) from None
    if root is not None:
        job = job.model_copy(update={"root": str(root)})

    from flows.generate import generate_dataset

    try:
        ref = generate_dataset(job)
    except SynthpipeError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    from datastore import open_dataset

    version = open_dataset(ref, root=job.root)
    typer.secho(f"Published {ref} ({version.manifest.rows} rows) at {version.path}", fg="green")


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
        Path | None, typer.Option("--out", help="Folder for validation.json and validation.md.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the metric subsample.")] = 0,
) -> None:
    """Validate user-supplied synthetic data against real data (no generator involved)."""
    import yaml

    from synthpipe.image_validation import is_image_source

    if is_image_source(str(real)):
        return validate_images_command(str(real), synthetic, thresholds, out, seed)

    from synthpipe.sources import load_table
    from validators import Thresholds, validate_table

    try:
        gates = (
            Thresholds.model_validate(yaml.safe_load(thresholds.read_text()) or {})
            if (thresholds)
            else Thresholds()
        )
        report = validate_table(
            load_table(real), load_table(synthetic), thresholds=gates, seed=seed
        )
    except (SynthpipeError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "validation.json").write_text(report.to_json())
        (out / "validation.md").write_text(report.to_markdown())
    typer.echo(report.to_markdown())
    if not report.passed:
        raise _fail(f"Validation FAILED: {', '.join(report.failed_checks)}")


def validate_images_command(
    real: str, synthetic: Path, thresholds: Path | None, out: Path | None, seed: int
) -> None:
    """`synth validate` on images: report.json / report.md / report.html under `out`; exits
    non-zero naming the failed gate checks. Publishes nothing."""
    import yaml

    from synthpipe.image_validation import validate_image_files
    from validators.thresholds import ImageThresholds

    try:
        gates = ImageThresholds.model_validate(
            yaml.safe_load(thresholds.read_text()) or {} if thresholds else {}
        )
        report = validate_image_files(real, synthetic, thresholds=gates, out=out, seed=seed)
    except (SynthpipeError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(report.to_markdown())
    if not report.passed:
        raise _fail(f"Validation FAILED: {', '.join(report.failed_checks)}")


@datasets_app.command("list")
def datasets_list(
    name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    root: RootOption = None,
) -> None:
    """List datasets and their versions (status, rows, latest)."""
    from datastore import DatasetStore

    store = DatasetStore(root)
    names = [name] if name else store.list_datasets()
    if not names:
        typer.echo(f"No datasets under {store.root}.")
    for dataset in names:
        for info in store.list_versions(dataset):
            latest = "  <- latest" if info.is_latest else ""
            typer.echo(
                f"{dataset}@{info.version}\t{info.status}\t{info.rows} rows\t"
                f"{info.created_at:%Y-%m-%d %H:%M:%S}{latest}"
            )


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
    typer.echo((version.path / "validation.md").read_text())


@app.command()
def generators() -> None:
    """List the registered generators."""
    from generators import available_generators, get_generator_class

    for name in available_generators():
        klass = get_generator_class(name)
        typer.echo(f"{name}\t{klass.modality}\t{(klass.__doc__ or '').strip().splitlines()[0]}")


if __name__ == "__main__":
    app()
