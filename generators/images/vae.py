"""`vae`: a convolutional variational autoencoder, optionally class-conditional.

Trained on reconstruction (BCE on pixel logits, or MSE on pixels; summed per image) plus
`kl_weight` times the KL divergence to N(0, I), with the reparameterisation trick. Sampling
decodes z ~ N(0, I). With `conditional: true` the encoder sees a learned label plane and the
decoder a label embedding (a conditional VAE).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from core.images import ImageData
from generators.images.base import ImageGenerator, ImageGeneratorConfig
from generators.registry import register
from generators.seeding import seeded

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "vae.safetensors"


class VAEConfig(ImageGeneratorConfig):
    latent_dim: int = Field(16, ge=1)
    base_channels: int = Field(32, ge=1, description="Channels of the full-resolution layer.")
    label_embedding_dim: int = Field(16, ge=1, description="Only used with conditional: true.")
    learning_rate: float = Field(1e-3, gt=0)
    reconstruction: Literal["bce", "mse"] = Field(
        "bce", description="'bce' on pixel logits (sharper on ink-on-paper images) or 'mse'."
    )
    kl_weight: float = Field(1.0, gt=0, description="Weight of the KL term (beta-VAE when != 1).")
    temperature: float = Field(
        1.0,
        ge=0,
        description="Sampling draws z ~ N(0, temperature^2 I): below 1 trades diversity for more "
        "typical images; 0 decodes the prior mean. No retraining needed.",
    )

    RUN_FIELDS: ClassVar[frozenset[str]] = ImageGeneratorConfig.RUN_FIELDS | {"temperature"}


@register("vae")
class VAEGenerator(ImageGenerator):
    """Convolutional (conditional) VAE; the whole model is saved (the encoder too)."""

    config_class = VAEConfig
    config: VAEConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._vae: Any = None

    def _build_vae(self) -> torch.nn.Module:
        from generators.images.networks import ConvVAE

        return ConvVAE(
            latent_dim=self.config.latent_dim,
            base_channels=self.config.base_channels,
            channels=self.spec.channels,
            size=self.spec.size,
            num_classes=len(self.spec.label_names) if self.config.conditional else None,
            label_embedding_dim=self.config.label_embedding_dim,
        )

    def _train(self, data: ImageData, *, seed: int) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        from generators.images.training import TrainState, autocast, train

        config, device = self.config, self.device
        with seeded(seed):
            vae = self._build_vae().to(device)
        optimizer = torch.optim.Adam(vae.parameters(), config.learning_rate)

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            y = labels if config.conditional else None
            with autocast(device, config.mixed_precision):
                logits, mu, logvar = vae(images, y, rng)  # (B, C, H, W), (B, latent) x 2
            logits, mu, logvar = logits.float(), mu.float(), logvar.float()
            if config.reconstruction == "bce":
                per_pixel = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
            else:
                per_pixel = F.mse_loss(torch.sigmoid(logits), images, reduction="none")
            reconstruction = per_pixel.sum(dim=(1, 2, 3)).mean()
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
            loss = reconstruction + config.kl_weight * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach(), "kl": kl.detach()}

        state = TrainState(modules={"vae": vae}, optimizers={"vae": optimizer})
        info = train(
            name=self.name,
            config=config,
            seed=seed,
            data=data,
            device=device,
            state=state,
            step=step,
        )
        self._vae = vae
        return info

    def _generate(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        import torch

        from generators.images.training import autocast

        z = torch.randn(n, self.config.latent_dim, generator=rng).to(self.device)  # (n, latent)
        z = z * self.config.temperature
        with autocast(self.device, self.config.mixed_precision):
            logits = self._vae.decode(z, labels)  # (n, C, H, W)
        return torch.sigmoid(logits.float())

    def _save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self._vae, str(directory / WEIGHTS_FILE))

    def _load_weights(self, directory: Path) -> None:
        from safetensors.torch import load_model

        self._vae = self._build_vae().to(self.device).eval()
        load_model(self._vae, str(directory / WEIGHTS_FILE), device=self.device)
