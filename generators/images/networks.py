"""Convolutional networks for small square images (side a power of two, 8 px and up): the DCGAN
generator and discriminator and a convolutional VAE, with optional label conditioning.

Both families use the same two stacks: `upsampler` (a vector to an image through stride-2
transposed convs) and `downsampler` (an image to 4x4 features through stride-2 convs).
Imported only when a family builds its networks, as it imports torch.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn


def _stages(size: int) -> int:
    """Stride-2 stages between a 4x4 map and `size` x `size`."""
    return size.bit_length() - 3


def upsampler(in_features: int, base_channels: int, size: int, out_channels: int) -> nn.Sequential:
    """(B, in_features) -> (B, out_channels, size, size), unactivated.

    A 4x4 transposed conv projects the vector to a map, then each stage doubles the side and
    halves the channels (transposed conv, batchnorm, ReLU); the last stage maps to the image.
    """
    channels = base_channels * 2 ** (_stages(size) - 1)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (in_features, 1, 1)),  # (B, F, 1, 1)
        nn.ConvTranspose2d(in_features, channels, 4, 1, 0, bias=False),  # (B, ch, 4, 4)
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    ]
    for _ in range(_stages(size) - 1):
        layers += [
            nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),  # side x2
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
        ]
        channels //= 2
    layers.append(nn.ConvTranspose2d(channels, out_channels, 4, 2, 1))  # (B, out, size, size)
    return nn.Sequential(*layers)


def downsampler(
    in_channels: int, base_channels: int, size: int, *, spectral_norm: bool = False
) -> tuple[nn.Sequential, int]:
    """(B, in_channels, size, size) -> (B, ch, 4, 4); returns the stack and ch.

    Each stage halves the side and doubles the channels (conv, batchnorm, LeakyReLU 0.2); the
    first stage has no batchnorm, as in DCGAN. With `spectral_norm` every conv is spectrally
    normalised instead of batch-normalised (Miyato et al. 2018), which bounds a critic's
    Lipschitz constant and keeps each image's logit independent of the rest of its batch.
    """
    conv = _spectral if spectral_norm else nn.Conv2d
    layers: list[nn.Module] = [
        conv(in_channels, base_channels, 4, 2, 1),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    channels = base_channels
    for _ in range(_stages(size) - 1):
        layers.append(conv(channels, channels * 2, 4, 2, 1, bias=spectral_norm))  # side /2
        if not spectral_norm:
            layers.append(nn.BatchNorm2d(channels * 2))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        channels *= 2
    return nn.Sequential(*layers), channels


def _spectral(*args: Any, **kwargs: Any) -> nn.Module:
    """A spectrally normalised nn.Conv2d (one power iteration per training forward)."""
    return nn.utils.parametrizations.spectral_norm(nn.Conv2d(*args, **kwargs))


class LabelMap(nn.Module):
    """A learned (1, size, size) plane per class, concatenated to an image as one more channel."""

    def __init__(self, num_classes: int, size: int):
        super().__init__()
        self.size = size
        self.embedding = nn.Embedding(num_classes, size * size)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.embedding(labels).view(-1, 1, self.size, self.size)  # (B, 1, S, S)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batchnorm scales ~ N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        # A spectrally normalised conv computes `weight` from `original`: initialise that, as
        # writing into the computed tensor would change nothing.
        if nn.utils.parametrize.is_parametrized(module, "weight"):
            nn.init.normal_(module.parametrizations.weight.original, 0.0, 0.02)
        else:
            nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGeneratorNet(nn.Module):
    """Latent `z` (+ label embedding) -> image in [-1, 1] (tanh)."""

    def __init__(
        self,
        *,
        latent_dim: int,
        base_channels: int,
        channels: int,
        size: int,
        num_classes: int | None = None,
        label_embedding_dim: int = 16,
    ):
        super().__init__()
        self.label_embedding = (
            nn.Embedding(num_classes, label_embedding_dim) if num_classes else None
        )
        in_features = latent_dim + (label_embedding_dim if num_classes else 0)
        self.net = upsampler(in_features, base_channels, size, channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)  # (B, latent + embedding)
        return torch.tanh(self.net(z))  # (B, C, H, W)


class DCGANDiscriminatorNet(nn.Module):
    """Image (+ label) -> one real/fake logit per image (the loss applies any sigmoid).

    Labels enter as a learned plane concatenated to the image (`conditioning="concat"`) or through
    a projection (Miyato & Koyama 2018): the logit gains the inner product of a label embedding
    with the image's pooled features, so the critic scores how well image and label match.
    """

    def __init__(
        self,
        *,
        base_channels: int,
        channels: int,
        size: int,
        num_classes: int | None = None,
        conditioning: Literal["concat", "projection"] = "concat",
        spectral_norm: bool = False,
    ):
        super().__init__()
        concat = bool(num_classes) and conditioning == "concat"
        self.label_map = LabelMap(num_classes, size) if concat else None
        self.features, features = downsampler(
            channels + (1 if concat else 0), base_channels, size, spectral_norm=spectral_norm
        )
        head = nn.Conv2d(features, 1, 4, 1, 0)  # (B, 1, 1, 1)
        self.head = nn.utils.parametrizations.spectral_norm(head) if spectral_norm else head
        self.projection = None
        if num_classes and conditioning == "projection":
            # Small initial label vectors, as the convs' N(0, 0.02): at N(0, 1) the label term
            # would swamp the image term of the logit from the first step.
            self.projection = nn.Embedding(num_classes, features)
            nn.init.normal_(self.projection.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            images = torch.cat([images, self.label_map(labels)], dim=1)  # (B, C + 1, H, W)
        hidden = self.features(images)  # (B, ch, 4, 4)
        logits = self.head(hidden).flatten()  # (B,)
        if self.projection is not None:
            pooled = hidden.sum(dim=(2, 3))  # (B, ch)
            logits = logits + (self.projection(labels) * pooled).sum(dim=1)
        return logits


class ConvVAE(nn.Module):
    """Encoder image (+ label plane) -> (mu, logvar); decoder z (+ label embedding) -> pixel logits.

    The decoder returns logits so the BCE loss can use the stable `*_with_logits` form; a sigmoid
    gives pixels in [0, 1].
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        base_channels: int,
        channels: int,
        size: int,
        num_classes: int | None = None,
        label_embedding_dim: int = 16,
    ):
        super().__init__()
        self.label_map = LabelMap(num_classes, size) if num_classes else None
        self.label_embedding = (
            nn.Embedding(num_classes, label_embedding_dim) if num_classes else None
        )
        features, channels_4x4 = downsampler(
            channels + (1 if num_classes else 0), base_channels, size
        )
        self.encoder = nn.Sequential(features, nn.Flatten())  # (B, ch * 4 * 4)
        self.to_mu = nn.Linear(channels_4x4 * 16, latent_dim)
        self.to_logvar = nn.Linear(channels_4x4 * 16, latent_dim)
        in_features = latent_dim + (label_embedding_dim if num_classes else 0)
        self.decoder = upsampler(in_features, base_channels, size, channels)

    def encode(
        self, images: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.label_map is not None:
            images = torch.cat([images, self.label_map(labels)], dim=1)  # (B, C + 1, H, W)
        hidden = self.encoder(images)
        return self.to_mu(hidden), self.to_logvar(hidden)  # (B, latent) each

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)  # (B, latent + embedding)
        return self.decoder(z)  # (B, C, H, W) logits

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction logits, mu and logvar, with z = mu + sigma * eps (reparameterisation)."""
        mu, logvar = self.encode(images, labels)
        eps = torch.randn(mu.shape, generator=rng, device=mu.device)  # (B, latent)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z, labels), mu, logvar
