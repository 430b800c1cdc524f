"""Tabular generators backed by SDV 2.x single-table synthesizers.

`gaussian_copula` (statistical), `ctgan` (GAN), `tvae` (VAE) and `copulagan` (GAN on copula-
normalised columns). Metadata is detected from the training data with per-column overrides.
SDV saves synthesizers with cloudpickle; that is SDV's own format and the only one it loads.
Unpickling runs code, so `synthesizer.pkl` is written with an HMAC signature beside it
(`core.signing`) and unpickled only after the signature verifies with this installation's key.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from core.metadata import TABLE_NAME, detect_metadata
from core.signing import read_signed, write_signed
from generators.base import Generator, TabularConfig
from generators.device import resolve_device
from generators.registry import register
from generators.seeding import derive_seed, seeded

MODEL_FILE = "synthesizer.pkl"
Distribution = Literal["norm", "beta", "truncnorm", "uniform", "gamma", "gaussian_kde"]


class SDVConfig(TabularConfig):
    enforce_min_max_values: bool = True
    enforce_rounding: bool = True


class GaussianCopulaConfig(SDVConfig):
    default_distribution: Distribution = "beta"


class NeuralConfig(SDVConfig):
    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"verbose"})

    epochs: int = Field(300, ge=1)
    batch_size: int = Field(500, ge=2)
    device: str = Field("auto", description="'auto' (cuda if present), 'cpu' or 'cuda'.")
    verbose: bool = Field(True, description="Show a progress bar with the losses while fitting.")


class CTGANConfig(NeuralConfig):
    embedding_dim: int = Field(128, ge=1)
    generator_dim: tuple[int, ...] = (256, 256)
    discriminator_dim: tuple[int, ...] = (256, 256)
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    discriminator_steps: int = Field(1, ge=1)
    pac: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _batch_divisible_by_pac(self) -> CTGANConfig:
        # CTGAN packs `pac` rows per discriminator input, so the batch must split evenly.
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size={self.batch_size} must be a multiple of pac={self.pac}; "
                f"e.g. batch_size={self.batch_size - self.batch_size % self.pac or self.pac}."
            )
        return self


class CopulaGANConfig(CTGANConfig):
    default_distribution: Distribution = "beta"


class TVAEConfig(NeuralConfig):
    embedding_dim: int = Field(128, ge=1)
    compress_dims: tuple[int, ...] = (128, 128)
    decompress_dims: tuple[int, ...] = (128, 128)
    l2scale: float = Field(1e-5, ge=0)
    loss_factor: float = Field(2.0, gt=0)


class SDVGenerator(Generator):
    """Shared fit/sample/save/load around one SDV single-table synthesizer class."""

    modality = "table"
    synthesizer_name: ClassVar[str]

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._synthesizer: Any = None

    def _synthesizer_class(self) -> Any:
        import sdv.single_table

        return getattr(sdv.single_table, self.synthesizer_name)

    def _synthesizer_kwargs(self) -> dict[str, Any]:
        kwargs = self.config.model_dump(exclude={"column_sdtypes", "constraints", "device"})
        if "device" in type(self.config).model_fields:
            kwargs["enable_gpu"] = resolve_device(self.config.device).startswith("cuda")
        return kwargs

    def _fit(self, real: pd.DataFrame, *, seed: int) -> None:
        # Key columns never reach the synthesizer (the base class regenerates them).
        overrides = {c: t for c, t in self.config.column_sdtypes.items() if c in real.columns}
        metadata = detect_metadata(real, overrides)
        # SDV (RDT) samples only NaN for a pandas Categorical column: give it the values as
        # objects; a version's part schema turns them back into the source's dictionary type.
        real = real.astype({c: object for c in real.columns if real[c].dtype == "category"})
        with seeded(seed), warnings.catch_warnings():
            # SDV warns about saving metadata and about every transformer it picks.
            warnings.simplefilter("ignore")
            synthesizer = self._synthesizer_class()(metadata, **self._synthesizer_kwargs())
            synthesizer.fit({TABLE_NAME: real})
        self._synthesizer = synthesizer

    def _sample(self, n: int, *, seed: int, conditions: pd.DataFrame | None) -> pd.DataFrame:
        self._reseed(seed)
        with seeded(derive_seed(seed, 1)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if conditions is None:
                out = self._synthesizer.sample(num_rows=n)
            else:
                out = self._synthesizer.sample_remaining_columns(conditions)
        frame = out[TABLE_NAME] if isinstance(out, dict) else out
        return frame[self.learned_columns]

    def _reseed(self, seed: int) -> None:
        # SDV resets to fixed internal seeds; replace them with ones derived from `seed` so that
        # shards drawn with different seeds differ and equal seeds repeat exactly.
        self._synthesizer.reset_sampling()
        self._synthesizer._set_random_state(derive_seed(seed, 0))
        hyper = self._synthesizer._data_processor._hyper_transformer
        for index, transformer in enumerate(hyper._transformers_sequence):
            state = np.random.RandomState(derive_seed(seed, 2, index))
            transformer.set_random_state(state, "reverse_transform")

    def _save(self, directory: Path) -> None:
        # SDV writes only to a path: let it write into a private scratch file, so the bytes
        # signed are the bytes SDV wrote, whoever else can write to `directory`.
        with _private_file() as scratch:
            self._synthesizer.save(str(scratch))
            write_signed(directory / MODEL_FILE, scratch.read_bytes())

    def _load(self, directory: Path) -> None:
        from sdv.utils import load_synthesizer

        data = read_signed(directory / MODEL_FILE, fix=_refit_hint(directory))
        # Unpickle the verified bytes from a private copy: the file in the store could be
        # swapped between the check and SDV opening it.
        with _private_file() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scratch.write_bytes(data)
            self._synthesizer = load_synthesizer(str(scratch))


@contextmanager
def _private_file() -> Iterator[Path]:
    """A path in a fresh directory only this user can enter, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="synthpipe-sdv-") as scratch:
        yield Path(scratch) / MODEL_FILE


def _refit_hint(directory: Path) -> str:
    return (
        f"To re-fit, delete {directory} if it is a model cache entry (<root>/.models/<key>/) and "
        "run the job again; a published version's model/ loads only with the signing key of the "
        "installation that ran its job."
    )


@register("gaussian_copula")
class GaussianCopulaGenerator(SDVGenerator):
    """SDV GaussianCopula: per-column marginals joined by a Gaussian copula; fast baseline."""

    config_class = GaussianCopulaConfig
    synthesizer_name = "GaussianCopulaSynthesizer"


@register("ctgan")
class CTGANGenerator(SDVGenerator):
    """SDV CTGAN: conditional tabular GAN with mode-specific normalisation."""

    config_class = CTGANConfig
    synthesizer_name = "CTGANSynthesizer"


@register("tvae")
class TVAEGenerator(SDVGenerator):
    """SDV TVAE: tabular variational autoencoder."""

    config_class = TVAEConfig
    synthesizer_name = "TVAESynthesizer"


@register("copulagan")
class CopulaGANGenerator(SDVGenerator):
    """SDV CopulaGAN: CTGAN trained on copula-transformed columns."""

    config_class = CopulaGANConfig
    synthesizer_name = "CopulaGANSynthesizer"
