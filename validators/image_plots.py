"""Figures of an image validation report (`validators.html_report.Figure`, PNG bytes):

| name               | section      | what |
|--------------------|--------------|------|
| `samples`          | Samples      | per class, real training images beside synthetic ones |
| `quality_vs_floor` | Fidelity     | FD, KID (vs holdout and vs train), PRDC, floor and noise |
| `cas_per_class`    | Utility      | per-class accuracy, real-trained vs synthetic-trained CNN |
| `nearest_pixel`    | Memorisation | synthetic images nearest a training image, and that image |
| `nearest_feature`  | Memorisation | the same in the CNN's feature space |
| `prompts`          | Prompts      | text-to-image sets: images drawn per prompt against the plan |

Everything but the samples comes from the checks' `data` (`validators.image_quality`), so the
figures show exactly what the gates saw; the checks draw them (`Check.render` in
`validators.image_checks`), so without quality checks only the samples are drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from validators.html_report import Figure
from validators.report import CheckResult, ValidationReport

if TYPE_CHECKING:
    from core.images import ImageData
    from validators.images import SyntheticImages

PER_CLASS = 8  # images per class and side in the sample grid
# Figures are drawn about as wide as the HTML report shows them (WIDTH inches at DPI, ~1,150 px),
# so their text keeps its point size on the page.
WIDTH, DPI = 13.0, 90
UNLABELLED = "unlabelled"
PRDC_METRICS = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class ImageEvidence:
    """What the image checks' figures draw besides their data: uint8 `(N, H, W, C)` images."""

    real: np.ndarray
    synthetic: SyntheticImages


def image_figures(
    report: ValidationReport, real_train: ImageData, synthetic: SyntheticImages
) -> list[Figure]:
    """The report's figures (see the module docstring) for `synthetic` against `real_train`."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    from validators.image_checks import IMAGE_SUITE  # the suite imports this module's renderers
    from validators.image_quality import to_uint8

    real = to_uint8(real_train.images)  # (N, H, W, C)
    samples = _samples(real, real_train, synthetic)
    return [samples, *IMAGE_SUITE.figures(report, ImageEvidence(real, synthetic))]


def _samples(real: np.ndarray, real_train: ImageData, synthetic: SyntheticImages) -> Figure:
    import matplotlib.pyplot as plt

    names = list(real_train.label_names)
    synthetic_labels = [UNLABELLED if label is None else label for label in synthetic.labels]
    rows = names + sorted({label for label in synthetic_labels} - set(names))
    side = real.shape[1]
    canvas = np.full(
        (len(rows) * (side + 1), (2 * PER_CLASS + 1) * (side + 1), real.shape[3]), 255, np.uint8
    )
    labels = np.asarray(synthetic_labels, dtype=object)
    for r, name in enumerate(rows):
        real_rows = real[real_train.labels == names.index(name)] if name in names else real[:0]
        for offset, images in ((0, real_rows), (PER_CLASS + 1, synthetic.images[labels == name])):
            for c, image in enumerate(images[:PER_CLASS]):
                y, x = r * (side + 1), (offset + c) * (side + 1)
                canvas[y : y + side, x : x + side] = image
    # As tall as the grid is at the full width (the image keeps its aspect), plus the labels.
    fig, ax = plt.subplots(figsize=(WIDTH, WIDTH * len(rows) / (2 * PER_CLASS + 1) + 0.8))
    _show(ax, canvas)
    ax.set_yticks([(r + 0.5) * (side + 1) for r in range(len(rows))], rows)
    ax.set_xticks(
        [PER_CLASS * (side + 1) / 2, (1.5 * PER_CLASS + 1) * (side + 1)], ["real", "synthetic"]
    )
    ax.tick_params(length=0)
    return Figure(
        "samples",
        "Samples",
        "Real training images (left) and synthetic images (right) per class",
        _png(fig),
        f"Up to {PER_CLASS} images per class and side; an empty right half is a class the "
        "generator did not produce.",
    )


def quality_vs_floor_figure(
    check: CheckResult, report: ValidationReport, evidence: ImageEvidence
) -> Figure:
    """`image.fd_cnn`'s figure: FD and KID against the real holdout (the gates) and against the
    training images, and the PRDC checks the report has, each beside the real-vs-real floor and
    the noise ceiling."""
    import matplotlib.pyplot as plt

    checks = {c.name: c for c in report.checks}
    fd, kid = check.data, checks.get("image.kid_cnn")
    metrics = [m for m in PRDC_METRICS if f"image.{m}" in checks]
    sets = ("synthetic", "floor", "noise")
    colours = ("tab:blue", "tab:green", "tab:grey")
    ticks = ("synthetic", "real floor", "noise")
    references = ("vs holdout (gate)", "vs train")
    panels = 1 + (kid is not None) + bool(metrics)
    fig, rows = plt.subplots(1, panels, figsize=(WIDTH, 4.2), squeeze=False)
    axes = iter(rows[0])

    def grouped(ax: Any, data: dict[str, Any], key: str, spread: str | None = None) -> None:
        """Bars per reference (holdout, train), one per set."""
        x = np.arange(len(references))
        for i, (name, tick, colour) in enumerate(zip(sets, ticks, colours, strict=True)):
            values = [data[name][key], data["train"][name][key]]
            errors = None if spread is None else [data[name][spread], data["train"][name][spread]]
            ax.bar(x + (i - 1) * 0.27, values, 0.27, yerr=errors, label=tick, color=colour)
        ax.set_xticks(x, references)

    ax = next(axes)
    grouped(ax, fd, "distance")
    ax.set_yscale("log")
    threshold = check.threshold  # gates the holdout group only
    ax.hlines(
        threshold, -0.45, 0.45, color="tab:red", linestyle="--", label=f"gate {threshold:.3g}"
    )
    ax.legend(fontsize="small")
    ax.set_title("Fréchet distance (log)")
    if kid is not None:
        ax = next(axes)
        grouped(ax, kid.data, "mean", spread="std")
        ax.set_title("KID (mean ± spread)")
    if metrics:
        ax = next(axes)
        keys = ("synthetic", "real", "noise")
        x = np.arange(len(metrics))
        for i, (key, tick, colour) in enumerate(zip(keys, ticks, colours, strict=True)):
            values = [checks[f"image.{m}"].data[key] for m in metrics]
            ax.bar(x + (i - 1) * 0.27, values, 0.27, label=tick, color=colour)
        ax.set_xticks(x, metrics)
        ax.legend(fontsize="small")
        ax.set_title("k-NN metrics vs holdout")
    fig.tight_layout()
    extractor = f"{fd['extractor']} layer {fd['layer']}, D={fd['dim']}"
    held, seen = fd["synthetic"], fd["train"]["synthetic"]
    return Figure(
        "quality_vs_floor",
        "Fidelity",
        "Synthetic images beside the real-vs-real floor and a noise ceiling",
        _png(fig),
        f"Features of {extractor} (sha256 {fd['sha256'][:12]}). Against the holdout: "
        f"N={held['n_other']} against {held['n_real']} holdout images, floor "
        f"{fd['floor_split']}. Against train: N={seen['n_other']} against {seen['n_real']} "
        f"training images, floor {fd['train']['floor_split']}.",
    )


def cas_per_class_figure(
    check: CheckResult, report: ValidationReport, evidence: ImageEvidence
) -> Figure:
    """`image.cas_per_class`'s figure: per-class accuracy, real- vs synthetic-trained CNN."""
    import matplotlib.pyplot as plt

    per_class: dict[str, dict[str, float]] = check.data["per_class"]
    names = list(per_class)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(WIDTH, 4))
    ax.bar(x - 0.2, [per_class[n]["real"] for n in names], 0.4, label="trained on real")
    ax.bar(x + 0.2, [per_class[n]["synthetic"] for n in names], 0.4, label="trained on synthetic")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("real holdout accuracy")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return Figure(
        "cas_per_class",
        "Utility",
        "Classification accuracy per class (CAS): trained on synthetic, tested on real holdout",
        _png(fig),
        "A class near 0 for the synthetic-trained CNN is one the generator dropped or confused.",
    )


def nearest_figure(check: CheckResult, report: ValidationReport, evidence: ImageEvidence) -> Figure:
    """An `image.memorised_*` check's figure: its nearest (synthetic, training) pairs."""
    import matplotlib.pyplot as plt

    data, real, synthetic = check.data, evidence.real, evidence.synthetic.images
    space, pairs = data["space"], data["closest"]
    fig, axes = plt.subplots(
        2, len(pairs), figsize=(WIDTH, WIDTH / len(pairs) * 2 + 0.6), squeeze=False
    )
    for column, pair in enumerate(pairs):
        _show(axes[0, column], synthetic[pair["synthetic_index"]])
        _show(axes[1, column], real[pair["train_index"]])
        axes[0, column].set_title(f"d={pair['distance']:.3g}", fontsize="small")
    axes[0, 0].set_ylabel("synthetic")
    axes[1, 0].set_ylabel("nearest real")
    fig.tight_layout()
    return Figure(
        f"nearest_{space}",
        "Memorisation",
        f"Synthetic images nearest a training image ({space} space), nearest first",
        _png(fig),
        f"Memorised below d={data['threshold']:.4g} (the real holdout's 1st-percentile nearest "
        f"distance): {data['memorised_share']:.1%} of synthetic images vs "
        f"{data['holdout_share']:.1%} of holdout images.",
    )


def prompt_counts_figure(planned: dict[str, int], drawn: dict[str, int]) -> Figure:
    """Images drawn per prompt beside the planned count, one bar pair per prompt (named)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    prompts = list(planned) + sorted(set(drawn) - set(planned))
    y = np.arange(len(prompts))
    fig, ax = plt.subplots(figsize=(WIDTH, 0.35 * len(prompts) + 1.2))
    ax.barh(y - 0.2, [planned.get(p, 0) for p in prompts], 0.4, label="planned", color="tab:grey")
    ax.barh(y + 0.2, [drawn.get(p, 0) for p in prompts], 0.4, label="drawn", color="tab:blue")
    ax.set_yticks(y, prompts)
    ax.invert_yaxis()  # the first prompt on top
    ax.set_xlabel("images")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    unplanned = sorted(set(drawn) - set(planned))
    return Figure(
        "prompts",
        "Prompts",
        f"Images per prompt ({len(planned)} prompts)",
        _png(fig),
        "Prompts: "
        + "; ".join(f"{p!r} ({planned[p]})" for p in planned)
        + (f". Drawn but not planned: {unplanned}" if unplanned else ""),
    )


def _show(ax: Any, image: np.ndarray) -> None:
    """Draw a uint8 image `(H, W, C)` without axes ticks (grayscale for one channel)."""
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()
