"""`dcgan`: a DCGAN for small images, optionally class-conditional (a conditional GAN).

Generator: transposed convs + batchnorm + ReLU, tanh output. Discriminator: strided convs +
batchnorm + LeakyReLU(0.2). By default both are trained as in the DCGAN paper: Adam (lr 2e-4,
beta1 0.5) on the standard GAN loss with the non-saturating generator objective. With
`conditional: true` a label embedding is concatenated to the generator's latent, and the
discriminator gets a learned label plane beside the image (`conditioning: concat`) or a
projection of a label embedding onto its features (`projection`).

The usual stabilisers of later GANs are options: a spectrally normalised discriminator
(`spectral_norm`), the hinge loss (`loss: hinge`), separate learning rates (TTUR,
`discriminator_learning_rate`) and an exponential moving average of the generator's weights
(`ema_decay`), which is then what samples and is saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from core.images import ImageData
from generators.images.base import ImageGenerator, ImageGeneratorConfig
from generators.registry import register
from generators.seeding import seeded

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "dcgan_generator.safetensors"


class DCGANConfig(ImageGeneratorConfig):
    latent_dim: int = Field(64, ge=1)
    base_channels: int = Field(64, ge=1, description="Channels of the full-resolution layer.")
    label_embedding_dim: int = Field(16, ge=1, description="Only used with conditional: true.")
    learning_rate: float = Field(
        2e-4, gt=0, description="The generator's (and by default the discriminator's)."
    )
    discriminator_learning_rate: float | None = Field(
        None, gt=0, description="The discriminator's learning rate (TTUR); None: learning_rate."
    )
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam's beta1 for both networks.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam's beta2 for both networks.")
    loss: Literal["bce", "hinge"] = Field(
        "bce", description="'bce': non-saturating GAN loss; 'hinge': hinge loss (SN-GAN, BigGAN)."
    )
    spectral_norm: bool = Field(
        False, description="Spectral norm on the discriminator's convs instead of batchnorm."
    )
    conditioning: Literal["concat", "projection"] = Field(
        "concat",
        description="How the discriminator sees the label: a label plane beside the image, or a "
        "projection discriminator. Only used with conditional: true.",
    )
    ema_decay: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Keep an EMA of the generator's weights with this decay; it is what samples "
        "and is saved. None: use the last weights.",
    )


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
        from generators.images.training import EMA, TrainState, autocast, train

        config, device = self.config, self.device
        with seeded(seed):
            generator = self._build_generator()
            discriminator = DCGANDiscriminatorNet(
                base_channels=config.base_channels,
                channels=data.channels,
                size=data.size,
                num_classes=data.num_classes if config.conditional else None,
                conditioning=config.conditioning,
                spectral_norm=config.spectral_norm,
            )
            for network in (generator, discriminator):
                network.apply(init_dcgan_weights).to(device)
        betas = (config.beta1, config.beta2)
        optimizer_g = torch.optim.Adam(generator.parameters(), config.learning_rate, betas=betas)
        optimizer_d = torch.optim.Adam(
            discriminator.parameters(),
            config.discriminator_learning_rate or config.learning_rate,
            betas=betas,
        )
        bce = F.binary_cross_entropy_with_logits

        def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor):
            if config.loss == "hinge":
                return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
            return bce(real_logits, torch.ones_like(real_logits)) + bce(
                fake_logits, torch.zeros_like(fake_logits)
            )

        def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
            if config.loss == "hinge":
                return -fake_logits.mean()
            # Non-saturating loss: the generator maximises log D(G(z)).
            return bce(fake_logits, torch.ones_like(fake_logits))

        def step(images: torch.Tensor, labels: torch.Tensor, rng: torch.Generator):
            real = images * 2 - 1  # (B, C, H, W) in tanh's range
            y = labels if config.conditional else None
            z = torch.randn(len(real), config.latent_dim, generator=rng, device=real.device)
            with autocast(device, config.mixed_precision):
                fake = generator(z, y)  # (B, C, H, W)
                loss_d = discriminator_loss(discriminator(real, y), discriminator(fake.detach(), y))
            optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_d.step()
            with autocast(device, config.mixed_precision):
                loss_g = generator_loss(discriminator(fake, y))
            optimizer_g.zero_grad(set_to_none=True)
            loss_g.backward()
            optimizer_g.step()
            return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

        ema = {} if config.ema_decay is None else {"generator": EMA(generator, config.ema_decay)}
        state = TrainState(
            modules={"generator": generator, "discriminator": discriminator},
            optimizers={"generator": optimizer_g, "discriminator": optimizer_d},
            ema=ema,
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
        self._net = ema["generator"].module if ema else generator
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
