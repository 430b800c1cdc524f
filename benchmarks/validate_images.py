"""Time and peak memory of full image validation on digits: `validators.images.validate_images`
(GX suite on per-image metadata + every quality check of `validators.image_quality`) and the
HTML report with its plots (`validators.image_plots`, `validators.html_report`).

    python benchmarks/validate_images.py [--sizes 2000 20000] [--seed 0]

Real data: scikit-learn digits (8x8), split 80/20 into train (1,438) and holdout (359) as a job
would. Synthetic data: `--sizes` real training digits, each rolled by up to one pixel with
Gaussian pixel noise (sd 0.05), keeping their labels. The first row trains the extractor into an
empty cache; the others validate with that cache (the flow's usual case), at the default subsample
cap (2,000 per set) and with the cap lifted to every image.

Each row runs in a fresh process, so its peak RSS (ru_maxrss) is its own. torch, scipy and
matplotlib are imported before the clock starts (a flow has them loaded already); "RSS before" is
the process then, with the data prepared, just before the timed call.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from core.images import ImageData

HOLDOUT_FRACTION = 0.2
NOISE_SD = 0.05


def augmented(data: ImageData, n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`n` uint8 images `(n, H, W, C)` from `data`: each rolled by up to 1 px, plus pixel noise."""
    from validators.image_quality import to_uint8

    rng = np.random.default_rng(seed)
    source = rng.integers(0, len(data), n)
    shifts = rng.integers(-1, 2, (n, 2))
    shifted = np.stack(
        [
            np.roll(data.images[i], tuple(s), axis=(1, 2))
            for i, s in zip(source, shifts, strict=True)
        ]
    )  # (n, C, H, W)
    noisy = shifted + rng.normal(0.0, NOISE_SD, shifted.shape).astype(np.float32)
    return to_uint8(noisy), [data.label_names[i] for i in data.labels[source]]


def run_case(n: int | None, max_images: int, cache_dir: str, seed: int) -> dict:
    """One row, in its own process: n=None trains the extractor; otherwise a full validation of
    `n` synthetic images (augmented training digits) with the extractor cached by the first row,
    and its HTML report."""
    import hashlib
    from pathlib import Path

    import matplotlib.pyplot  # noqa: F401  (loaded before the clock, as in a flow)
    import scipy.linalg  # noqa: F401
    import torch  # noqa: F401

    from sources.images import load_digits_images, split_holdout
    from validators.html_report import write_report
    from validators.image_features import load_or_train_extractor
    from validators.image_plots import image_figures
    from validators.images import SyntheticImages, validate_images
    from validators.thresholds import ImageThresholds

    train, holdout, _ = split_holdout(load_digits_images(), HOLDOUT_FRACTION, seed)
    row = {"train": len(train), "holdout": len(holdout)}
    synthetic = None
    if n:
        images, labels = augmented(train, n, seed)
        ids = [hashlib.sha256(image.tobytes()).hexdigest() for image in images]
        synthetic = SyntheticImages(images, labels, ids)
    row["rss_before"] = _rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    if synthetic is None:
        load_or_train_extractor(train, cache_dir=cache_dir)
        return row | {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "rss": _rss_mib(),
        }
    report = validate_images(
        train,
        synthetic,
        real_holdout=holdout,
        extractor_cache=cache_dir,
        thresholds=ImageThresholds(max_images=max_images),
        seed=seed,
    )
    validated = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_report(Path(out), report, image_figures(report, train, synthetic), "benchmark")
    fd = report.check("image.fd_cnn").data
    row |= {
        "used": f"{fd['synthetic']['n_other']} x {fd['subsets']}",
        "fd": " / ".join(f"{fd[k]['distance']:.3g}" for k in ("synthetic", "floor", "noise")),
        "cas": f"{report.check('image.cas').value:.3f}",
        "memorised": f"{report.check('image.memorised_pixel').value:.3f}",
        "validate_s": validated - started,
    }
    return row | {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started,
        "rss": _rss_mib(),
    }


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_fresh_process(*args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_case, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-images", type=int, default=2_000, help="the default subsample cap")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="synthpipe-bench-images-") as cache_dir:
        rows.append(
            ("train extractor (cache miss)", "—", in_fresh_process(None, 0, cache_dir, args.seed))
        )
        for n in args.sizes:
            for cap in sorted({args.max_images, n}):
                rows.append(
                    (
                        f"validate {n:,} synthetic",
                        f"{cap:,}",
                        in_fresh_process(n, cap, cache_dir, args.seed),
                    )
                )

    first = rows[0][2]
    print(
        f"\ndigits 8x8, real train {first['train']:,} / holdout {first['holdout']}, "
        f"seed {args.seed}, {os.cpu_count()} cores\n"
    )
    print(
        "| run | max_images | matched N x subsets | validate s | + report s | CPU s "
        "| RSS before MiB | peak RSS MiB | FD synthetic / floor / noise | CAS ratio "
        "| memorised (pixel) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, cap, r in rows:
        validate_s = r.get("validate_s", r["wall_s"])
        print(
            f"| {name} | {cap} | {r.get('used', '—')} | {validate_s:.1f} | "
            f"{r['wall_s'] - validate_s:.1f} | {r['cpu_s']:.1f} | {r['rss_before']:.0f} | "
            f"{r['rss']:.0f} | "
            f"{r.get('fd', '—')} | {r.get('cas', '—')} | {r.get('memorised', '—')} |"
        )


if __name__ == "__main__":
    main()
