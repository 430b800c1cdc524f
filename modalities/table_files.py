"""`synth validate` on tables: a user-supplied synthetic table against a real one, no generator
(`TableModality.reads_files` / `validate_files`).

Privacy (DCR) and the pair-trends baseline use a real holdout: `--holdout`, or else a seeded
`--holdout-fraction` (default: the table modality's) of `--real`, reported; utility also needs
`--target`.
"""

from __future__ import annotations

from pathlib import Path

from core import progress
from core.errors import ConfigError
from core.image_parts import is_image_parquet
from modalities.base import FileInputs, FileValidation
from sources.tables import TABLE_SUFFIXES, load_table, split_table
from validators import Thresholds, validate_table
from validators.html_report import Figure


def reads_table_files(real: str) -> bool:
    """A CSV or Parquet file, or a folder of Parquet parts, that does not hold images."""
    path = Path(real)
    if path.is_dir():
        return any(path.glob("*.parquet")) and not is_image_parquet(path)
    return path.suffix.lower() in TABLE_SUFFIXES and not (path.exists() and is_image_parquet(path))


def validate_table_files(given: FileInputs, holdout_default: float) -> FileValidation:
    """Validate `given.synthetic` against `given.real` (see the module docstring)."""
    fraction = given.holdout_fraction
    if given.holdout is not None and fraction is not None:
        raise ConfigError("Give --holdout or --holdout-fraction, not both.")
    if given.holdout is None:
        fraction = holdout_default if fraction is None else fraction
        _require_split_fraction(fraction)
    thresholds = Thresholds.model_validate(given.thresholds)
    notes = []
    with progress.phase("load") as phase:
        real, synthetic = load_table(given.real), load_table(given.synthetic)
        holdout = load_table(given.holdout) if given.holdout is not None else None
        if fraction is not None:
            real, holdout, _ = split_table(real, fraction, given.seed)
            notes.append(
                f"Holdout: {len(holdout):,} of {len(real) + len(holdout):,} rows of "
                f"{Path(given.real).name} split off (--holdout-fraction {fraction}, seed "
                f"{given.seed}) for the privacy checks; the other {len(real):,} are the real rows "
                "compared with. If the generator was fitted on all of them, give --holdout with "
                "rows it never saw."
            )
        phase.detail = (
            f"{len(real):,} real, {0 if holdout is None else len(holdout):,} holdout, "
            f"{len(synthetic):,} synthetic rows"
        )
    report = validate_table(
        real,
        synthetic,
        thresholds=thresholds,
        seed=given.seed,
        holdout=holdout,
        target=given.target,
    )

    def figures() -> list[Figure]:
        from validators.table_plots import table_figures

        return table_figures(report, real, synthetic, seed=given.seed)

    lineage = {
        "validated": {
            "real": str(Path(given.real).resolve()),
            "synthetic": str(given.synthetic.resolve()),
            "holdout": str(given.holdout.resolve()) if given.holdout is not None else None,
            "holdout_fraction": fraction,
            "target": given.target,
            "seed": given.seed,
        }
    }
    title = f"Validation of {given.synthetic.name} against {Path(given.real).name}"
    return FileValidation(report, title, figures, lineage, notes, records=synthetic)


def _require_split_fraction(fraction: float) -> None:
    """A holdout split must leave rows on both sides: without one no privacy check runs, and
    copies of the real rows would be scored only by fidelity, which they ace."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"--holdout-fraction must be between 0 and 1 (exclusive), got {fraction}: without "
            "a real holdout, privacy (copies of the real rows) is not checked. Give --holdout "
            "FILE, or leave --holdout-fraction at its default."
        )
