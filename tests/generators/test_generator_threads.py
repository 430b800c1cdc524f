"""Sampling from several threads at once repeats the sequential rows (process-state lock)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from generators import create_generator


def test_sample_in_threads_matches_sequential_samples(wine):
    # Setup: SDV reseeds numpy's global state while sampling, so unguarded threads interleave.
    generator = create_generator("gaussian_copula", {}).fit(wine, seed=0)
    seeds = list(range(6))
    sequential = [generator.sample(200, seed=seed) for seed in seeds]

    # Run
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = list(pool.map(lambda seed: generator.sample(200, seed=seed), seeds))

    # Assert
    assert not generator.thread_safe
    for expected, actual in zip(sequential, threaded, strict=True):
        pd.testing.assert_frame_equal(actual, expected)
