"""Sampling from several threads at once repeats the sequential rows (process-state lock), and
every torch family fits and samples with `cpu_threads` torch threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from generators import create_generator, get_generator_class


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


@pytest.mark.parametrize("name", ["dcgan", "vae", "ddpm", "argn", "tabddpm"])
def test_cpu_threads_hold_while_fitting_and_sampling_then_are_restored(name, wine, monkeypatch):
    # Setup: torch at 2 threads; record the count inside the family's training and generation
    import torch

    from generators.images.base import ImageGenerator
    from sources.images import load_digits_images

    family = get_generator_class(name)
    seen: dict[str, int] = {}
    for hook in ("_train", "_generate"):
        original = getattr(family, hook)

        def record(self, *args, _hook=hook, _original=original, **kwargs):
            seen[_hook] = torch.get_num_threads()
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(family, hook, record)
    images = issubclass(family, ImageGenerator)
    data = load_digits_images() if images else wine
    tiny = {"steps": 2, "batch_size": 16} if images else {"max_epochs": 1}
    previous = torch.get_num_threads()
    torch.set_num_threads(2)

    # Run
    try:
        generator = create_generator(name, {**tiny, "cpu_threads": 1, "verbose": False})
        generator.fit(data, seed=0).sample(4, seed=0)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)

    # Assert
    assert seen == {"_train": 1, "_generate": 1}
    assert after == 2
    assert not generator.thread_safe  # a process-wide setting: concurrent samples take the lock
