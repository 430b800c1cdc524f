"""`dcgan`: a DCGAN for small images, optionally class-conditional (a conditional GAN).

Generator: transposed convs + batchnorm + ReLU, tanh output. Discriminator: strided convs +
batchnorm + LeakyReLU(0.2). Both trained with Adam (lr 2e-4, beta1 0.5) on the standard GAN loss
with the non-saturating generator objective. With `conditional: true` a label embedding is
concatenated to the generator's latent and a learned label plane to the discriminator's input.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from generators.images.base import ImageGenerator, ImageGeneratorConfig
from generators.images.data import ImageData
from generators.registry import register
from generators.seeding import seeded

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "dcgan_generator.safetensors"


class DCGANConfig(ImageGeneratorConfig):
    latent_dim: int = Field(64, ge=1)
    base_channels: int = Field(64, ge=1, description="Channels of the full-resolution layer.")
    label_embedding_dim: int = Field(16, ge=1, description="Only used with conditional: true.")
    learning_rate: float = Field(2e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam's beta1 for both networks.")


@register("dcgan")
class DCGANGenerator(ImageGenerator):
    """DCGAN / conditional GAN; only the generator network is saved (sampling needs no critic)."""

    config_class = DCGANConfig
    config: DCGANConfig

    def __init__(self, config: Any = None, **params: Any):
        super().__init__(config, **params)
        self._net: Any = None

    def _build_generator(self) -> torch.nn.Module:
        from generators.images.networks import DCGANGeneratorNet

        return DCGANGeneratorNet(
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

        from generators.images.networks import DCGANDiscriminatorNet, init_dcgan_weights
        from generators.images.training import TrainState, autocast, train

        config, device = self.config, self.device
        with seeded(seed):
            generator = self._build_generator()
            discriminator = DCGANDiscriminatorNet(
                base_channels=config.base_channels,
                channels=data.channels,
                size=data.size,
                num_classes=data.num_classes if config.conditional else None,
            )
            for network in (generator, discriminator):
                network.apply(init_dcgan_weights).to(device)
        betas = (config.beta1, 0.999)
        optimizer_g = torch.optim.Adam(generator.parameters(), config.learning_rate, betas=betas)
        optimizer_d = torch.optim.Adam(
            discriminator.parameters(), config.learning_rate, betas=betas
        )
        bce = F.binary_cross_entropy_with_logits

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            real = images * 2 - 1  # (B, C, H, W) in tanh's range
            y = labels if config.conditional else None
            z = torch.randn(len(real), config.latent_dim, generator=rng, device=real.device)
            is_real = torch.ones(len(real), device=real.device)  # (B,) targets
            with autocast(device, config.mixed_precision):
                fake = generator(z, y)  # (B, C, H, W)
                loss_d = bce(discriminator(real, y), is_real)
                loss_d = loss_d + bce(discriminator(fake.detach(), y), 1 - is_real)
            optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_d.step()
            with autocast(device, config.mixed_precision):
                # Non-saturating loss: the generator maximises log D(G(z)).
                loss_g = bce(discriminator(fake, y), is_real)
            optimizer_g.zero_grad(set_to_none=True)
            loss_g.backward()
            optimizer_g.step()
            return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

        state = TrainState(
            modules={"generator": generator, "discriminator": discriminator},
            optimizers={"generator": optimizer_g, "discriminator": optimizer_d},
        )
        info = train(
            name=self.name,
            config=config,
            seed=seed,
            data=data,
            device=device,
            state=state,
            step=step,
        )
        self._net = generator
        return info

    def _generate(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        import torch

        from generators.images.training import autocast

        z = torch.randn(n, self.config.latent_dim, generator=rng).to(self.device)  # (n, latent)
        with autocast(self.device, self.config.mixed_precision):
            images = self._net(z, labels)  # (n, C, H, W) in [-1, 1]
        return (images.float() + 1) / 2

    def _save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self._net, str(directory / WEIGHTS_FILE))

    def _load_weights(self, directory: Path) -> None:
        from safetensors.torch import load_model

        self._net = self._build_generator().to(self.device).eval()
        load_model(self._net, str(directory / WEIGHTS_FILE), device=self.device)
