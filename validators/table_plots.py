"""Figures of a table's validation report (matplotlib, Agg backend, small PNGs).

- `columns`: real vs synthetic distribution of each column (numeric: density histograms on the
  real data's bins; categorical: frequencies of the most common real values), at most
  `max_columns` columns, those with the lowest SDMetrics Column Shapes scores first;
- `associations`: real and synthetic association matrices side by side and their absolute
  difference. Numeric pairs use Spearman's rho (signed); a pair with a categorical column uses
  Cramér's V, numeric columns binned at the real data's deciles (unsigned). At most
  `MAX_MATRIX_COLUMNS` columns, in table order;
- then the figures the report's checks draw (`Check.render` in `validators.table_checks`):
  `dcr`, histograms of distances to the closest record (synthetic -> train, synthetic -> holdout,
  holdout -> train) from the `privacy.dcr_share` check, when the report has one.

Both frames are seeded subsamples of at most `max_rows` rows (the caption says how many).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validators.html_report import Figure
from validators.privacy import HOLDOUT_DCR_SHARE, ordered_values
from validators.report import CheckResult, ValidationReport
from validators.table_data import sample_table

MAX_MATRIX_COLUMNS = 20
TOP_CATEGORIES = 10
BINS = 30
DECILES = np.linspace(0, 1, 11)[1:-1]
REAL_COLOUR, SYNTHETIC_COLOUR = "#1f77b4", "#ff7f0e"
# Every figure is drawn WIDTH inches wide at DPI, as wide as the HTML report shows it (about
# 1,150 px), so text keeps its point size on the page; LABEL_CHARS keeps category names whole.
WIDTH, DPI = 13.0, 90
LABEL_CHARS = 24


def table_figures(
    report: ValidationReport,
    real: pd.DataFrame,
    synthetic: pd.DataFrame | Sequence[str | Path],
    *,
    seed: int = 0,
    max_rows: int = 5_000,
    max_columns: int = 12,
) -> list[Figure]:
    """The report's figures for `synthetic` (a DataFrame or Parquet part files) vs `real`."""
    import matplotlib

    matplotlib.use("Agg")
    real_sample = sample_table(real, max_rows, seed)
    synthetic_sample = sample_table(synthetic, max_rows, seed)[list(real.columns)]
    sizes = f"{len(real_sample):,} real and {len(synthetic_sample):,} synthetic rows (seed {seed})"
    worst = _worst_columns(report, real, max_columns)
    from validators.table_checks import TABLE_SUITE  # the suite imports this module's renderers

    figures = [
        _columns_figure(real_sample, synthetic_sample, worst, sizes),
        _associations_figure(real_sample, synthetic_sample, sizes),
    ]
    return [f for f in figures if f is not None] + TABLE_SUITE.figures(report, None)


def _worst_columns(report: ValidationReport, real: pd.DataFrame, limit: int) -> list[str]:
    scores: dict[str, Any] = {}
    if any(check.name == "quality.column_shapes" for check in report.checks):
        scores = report.check("quality.column_shapes").data.get("columns", {})

    def score(name: str) -> float:
        value = scores.get(str(name), {}).get("score")
        return 1.0 if value is None else value

    return sorted(real.columns, key=score)[:limit]


def _columns_figure(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str], sizes: str
) -> Figure:
    import matplotlib.pyplot as plt

    cols = min(4, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, columns, strict=False):
        real_values, synthetic_values = ordered_values(real[name]), ordered_values(synthetic[name])
        if real_values is not None and synthetic_values is not None:
            edges = np.histogram_bin_edges(real_values[~np.isnan(real_values)], BINS)
            for values, colour, label in (
                (real_values, REAL_COLOUR, "real"),
                (synthetic_values, SYNTHETIC_COLOUR, "synthetic"),
            ):
                present = np.clip(values[~np.isnan(values)], edges[0], edges[-1])
                ax.hist(present, edges, density=True, histtype="step", color=colour, label=label)
        else:
            real_freq = real[name].astype(str).value_counts(normalize=True)
            top = real_freq.index[:TOP_CATEGORIES]
            synthetic_freq = synthetic[name].astype(str).value_counts(normalize=True)
            x = np.arange(len(top))
            ax.bar(x - 0.2, real_freq[top], 0.4, color=REAL_COLOUR, label="real")
            ax.bar(x + 0.2, synthetic_freq.reindex(top, fill_value=0), 0.4, color=SYNTHETIC_COLOUR)
            ax.set_xticks(x, [str(t)[:LABEL_CHARS] for t in top], rotation=30, ha="right")
        ax.set_title(str(name), fontsize=11)
        ax.tick_params(labelsize=9)
    for ax in axes.flat[len(columns) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=9)
    return Figure(
        name="columns",
        section="Columns",
        title="Real vs synthetic distribution per column (lowest Column Shapes scores first)",
        png=_png(fig),
        caption=f"Numeric: density histograms on the real data's bins; categorical: frequencies "
        f"of the {TOP_CATEGORIES} most common real values. {sizes}.",
    )


def _associations_figure(real: pd.DataFrame, synthetic: pd.DataFrame, sizes: str) -> Figure | None:
    import matplotlib.pyplot as plt

    columns = list(real.columns[:MAX_MATRIX_COLUMNS])
    if len(columns) < 2:
        return None
    real_matrix = association_matrix(real[columns], real[columns])
    synthetic_matrix = association_matrix(synthetic[columns], real[columns])
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, WIDTH / 3 + 0.9), sharey=True)
    fontsize = min(9.0, max(5.0, 130 / len(columns)))  # as large as the panels hold
    panels = (
        ("real", real_matrix, -1, 1, "RdBu_r"),
        ("synthetic", synthetic_matrix, -1, 1, "RdBu_r"),
        ("|real - synthetic|", np.abs(real_matrix - synthetic_matrix), 0, 1, "Reds"),
    )
    labels = [str(c)[:LABEL_CHARS] for c in columns]
    for ax, (title, matrix, low, high, cmap) in zip(axes, panels, strict=True):
        image = ax.imshow(matrix, vmin=low, vmax=high, cmap=cmap)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(columns)), labels, rotation=90, fontsize=fontsize)
        ax.set_yticks(range(len(columns)), labels, fontsize=fontsize)
        ax.tick_params(axis="y", labelleft=ax is axes[0])  # the panels share one row order
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return Figure(
        name="associations",
        section="Column pairs",
        title="Association matrices: real, synthetic and their absolute difference",
        png=_png(fig),
        caption="Numeric pairs: Spearman's rho; pairs with a categorical column: Cramér's V "
        f"(numeric binned at real deciles). First {len(columns)} columns; {sizes}.",
    )


def association_matrix(frame: pd.DataFrame, real: pd.DataFrame) -> np.ndarray:
    """Pairwise associations `(C, C)` of `frame`'s columns; numeric bins come from `real`."""
    numeric, codes = {}, {}
    for name in frame.columns:
        values, reference = ordered_values(frame[name]), ordered_values(real[name])
        if values is not None and reference is not None:
            numeric[name] = values
            edges = np.unique(np.nanquantile(reference, DECILES))
            codes[name] = np.where(np.isnan(values), -1, np.searchsorted(edges, values))
        else:
            codes[name] = pd.factorize(frame[name].astype(str))[0]
    names = list(frame.columns)
    matrix = np.eye(len(names))
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            second = names[j]
            if first in numeric and second in numeric:
                value = pd.Series(numeric[first]).corr(pd.Series(numeric[second]), "spearman")
            else:
                value = _cramers_v(codes[first], codes[second])
            matrix[i, j] = matrix[j, i] = 0.0 if np.isnan(value) else value
    return matrix


def _cramers_v(first: np.ndarray, second: np.ndarray) -> float:
    table = pd.crosstab(first, second).to_numpy(dtype=float)
    if min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / table.sum() / (min(table.shape) - 1)))


def dcr_figure(check: CheckResult, report: ValidationReport, evidence: None) -> Figure | None:
    """`privacy.dcr_share`'s figure: the closest-record distance histograms in its data."""
    import matplotlib.pyplot as plt

    data = check.data
    edges, histogram = np.asarray(data.get("histogram_edges", [])), data.get("histogram", {})
    if len(edges) < 2:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2))
    centres = (edges[:-1] + edges[1:]) / 2
    for key, colour, label in (
        ("synthetic_to_train", SYNTHETIC_COLOUR, "synthetic -> train"),
        ("synthetic_to_holdout", "#2ca02c", "synthetic -> holdout"),
        ("holdout_to_train", REAL_COLOUR, "holdout -> train (real reference)"),
    ):
        counts = np.asarray(histogram[key], dtype=float)
        ax.step(centres, counts / max(counts.sum(), 1), where="mid", color=colour, label=label)
    ax.set_xlabel("distance to closest record (Gower-style, [0, 1])", fontsize=11)
    ax.set_ylabel("share of rows", fontsize=11)
    ax.legend(fontsize=10)
    ax.tick_params(labelsize=10)
    gate = "" if check.threshold is None else f", gate {check.comparison} {check.threshold:.3g}"
    ax.set_title(
        f"DCR share {data['dcr_share']:.3f}{gate}; real holdout rows score {HOLDOUT_DCR_SHARE}",
        fontsize=11,
    )
    return Figure(
        name="dcr",
        section="Privacy",
        title="Distance to closest record",
        png=_png(fig),
        caption=f"DCR share (size-balanced) {data['dcr_share']:.3f}, 0.5 = no memorisation; "
        f"{data['synthetic_rows_used']:,} synthetic, {data['train_rows_used']:,} training, "
        f"{data['holdout_rows_used']:,} holdout rows. A spike at 0 for synthetic -> train "
        "without one for holdout -> train means copied rows.",
    )


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()
