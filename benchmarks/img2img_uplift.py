"""Do variations of real images add value? One class-conditional DDPM fitted on the kept real
digits (an augment job's selection), then the classifier uplift of real + each kind of synthetic
set, all scored on the same untouched real holdout with the same classifier seeds:

    python benchmarks/img2img_uplift.py [--per-class 20] [--steps 800] [--seeds 5] [--fit-seed 0]

Rows: samples from noise, variations at several strengths (`augment.init.strength`), centre
inpainting (`mask: center`), each `--factor` synthetic images per real image; every row also
gives random oversampling (the uplift report's baseline). `parent_l2` is the mean pixel distance
of a variation to its own parent, beside the real-vs-real nearest-neighbour distance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from core.image_masks import policy_masks
from generators import create_generator
from job.augment import plan_parents, select_training
from job.augment_config import AugmentConfig
from sources.images import load_digits_images, split_holdout
from validators.uplift import measure_uplift


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--fit-seed", type=int, default=0, help="DDPM fit and sampling seed")
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    train, holdout, _ = split_holdout(load_digits_images(), 0.3, 0)
    names = train.label_names
    labels = pd.Series([names[i] for i in train.labels])
    config = AugmentConfig(mode="multiply", factor=args.factor, reduce_per_class=args.per_class)
    kept = train.subset(select_training(labels, config, 0))
    kept_labels = [names[i] for i in kept.labels]
    plan = {name: args.factor * kept_labels.count(name) for name in sorted(set(kept_labels))}
    parents = plan_parents(kept_labels, plan, 0)  # (n,) positions in kept, class by class
    wanted = [kept_labels[p] for p in parents]

    start = time.process_time()
    params = {
        "conditional": True,
        "steps": args.steps,
        "batch_size": 64,
        "block_out_channels": (32, 64),
        "sampling_steps": 25,
        "verbose": False,
    }
    ddpm = create_generator("ddpm", params).fit(kept, seed=args.fit_seed)
    fit_cpu = time.process_time() - start

    x_real = kept.images.reshape(len(kept), -1)
    x_holdout = holdout.images.reshape(len(holdout), -1)
    y_holdout = np.asarray([names[i] for i in holdout.labels])
    nearest = _nearest_real_distance(x_real)
    images, draw = kept.images[parents], args.fit_seed + 1  # (n, C, H, W); sampling seed
    variants: dict[str, pd.DataFrame] = {
        "from noise": ddpm.sample(
            len(parents), seed=draw, conditions=pd.DataFrame({"label": wanted})
        )
    }
    for strength in (0.25, 0.5, 0.75):
        variants[f"variation s={strength}"] = ddpm.vary(
            images, wanted, strength=strength, seed=draw
        )
    masks = policy_masks("center", len(parents), kept.size, 0.5, seed=draw)
    variants["inpaint centre 50%"] = ddpm.vary(images, wanted, strength=1.0, seed=draw, masks=masks)

    rows = []
    for name, frame in variants.items():
        x_syn = np.stack(frame["image"]).transpose(0, 3, 1, 2).reshape(len(frame), -1) / 255
        report = measure_uplift(
            x_real,
            np.asarray(kept_labels),
            x_syn.astype(np.float32),
            np.asarray(frame["label"], dtype=str),
            x_holdout,
            y_holdout,
            seeds=args.seeds,
        )
        acc, base = report.metrics["accuracy"], report.oversampling_baseline["accuracy"]
        rows.append(
            {
                "synthetic set": name,
                "real only": f"{acc.real_only.mean:.3f} ± {acc.real_only.std:.3f}",
                "real + synthetic": f"{acc.augmented.mean:.3f} ± {acc.augmented.std:.3f}",
                "difference": f"{acc.difference.mean:+.3f} ± {acc.difference.std:.3f}",
                "real + oversampled": f"{base.augmented.mean:.3f} ± {base.augmented.std:.3f}",
                "oversampling difference": f"{base.difference.mean:+.3f} ± "
                f"{base.difference.std:.3f}",
                "parent_l2": f"{np.linalg.norm(x_syn - x_real[parents], axis=1).mean():.2f}",
            }
        )
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")
    print(
        f"\n{len(kept)} real training images ({args.per_class}/class), {len(holdout)} holdout, "
        f"{len(parents)} synthetic; real-vs-real nearest L2 {nearest:.2f}; ddpm fit "
        f"{args.steps} steps (seed {args.fit_seed}) in {fit_cpu:.0f} CPU s; random_forest, "
        f"{args.seeds} seeds"
    )


def _nearest_real_distance(x: np.ndarray) -> float:
    """Mean L2 from each real image to its nearest other real image."""
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(d.min(axis=1).mean())


if __name__ == "__main__":
    main()
