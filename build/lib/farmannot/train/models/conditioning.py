"""Text and DEM conditioning, each a residual whose weight starts at zero (the model starts image-only).

- :class:`DemModulation` (ETTerra baseline): a small conv net encodes the DEM (relative elevation and a
  valid flag) into per-pixel scale and shift for each encoder feature map;
  ``f <- f + gate * ((f * (1 + scale) + shift) - f)`` with ``gate`` initialised to 0.
- :class:`TextFiLM`: the caption's sentence embedding gives per-channel scale and shift of the decoder
  output (linear layer initialised to zero).
- :class:`TextCrossAttention`: decoder pixels attend to the caption's tokens (sentence + clauses);
  the attended features are added through a zero-initialised gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DemModulation(nn.Module):
    """Per-pixel scale and shift of encoder features from the DEM, behind zero-initialised gates.

    Args:
        encoder_channels: channels of each encoder feature; stages with 0 channels or index 0 (the input
            itself in smp encoders, when ``skip_first``) are left alone.
        hidden: channels of the DEM encoder.
        skip_first: leave ``features[0]`` alone.
    """

    def __init__(self, encoder_channels: list[int], hidden: int = 32, dem_channels: int = 2,
                 skip_first: bool = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(dem_channels, hidden // 2, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(hidden // 2, hidden, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(),
        )
        self.targets = [i for i, c in enumerate(encoder_channels) if c > 0 and not (skip_first and i == 0)]
        self.proj = nn.ModuleDict({str(i): nn.Conv2d(hidden, 2 * encoder_channels[i], 1) for i in self.targets})
        self.gate = nn.Parameter(torch.zeros(len(encoder_channels)))

    def forward(self, features: list[torch.Tensor], dem: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(dem.to(features[-1].dtype))
        out = list(features)
        for i in self.targets:
            f = features[i]
            hi = F.interpolate(h, size=f.shape[-2:], mode="bilinear", align_corners=False)
            scale, shift = self.proj[str(i)](hi).chunk(2, dim=1)
            out[i] = f + self.gate[i] * (f * scale + shift)
        return out


class TextFiLM(nn.Module):
    """Feature-wise linear modulation of the decoder output by the sentence embedding."""

    def __init__(self, text_dim: int, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(text_dim, text_dim), nn.GELU(), nn.Linear(text_dim, 2 * channels))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, text: torch.Tensor, tokens=None, token_mask=None) -> torch.Tensor:
        gamma, beta = self.net(text.to(x.dtype)).chunk(2, dim=1)
        return x * (1 + gamma[..., None, None]) + beta[..., None, None]


class TextCrossAttention(nn.Module):
    """Decoder pixels (queries) attend to caption tokens (keys/values); added through a zero gate."""

    def __init__(self, text_dim: int, channels: int, heads: int = 4) -> None:
        super().__init__()
        heads = heads if channels % heads == 0 else 1
        self.kv = nn.Linear(text_dim, channels)
        self.norm = nn.GroupNorm(1, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, text: torch.Tensor, tokens: torch.Tensor,
                token_mask: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.norm(x).flatten(2).transpose(1, 2)
        kv = self.kv(tokens.to(x.dtype))
        att, _ = self.attn(q, kv, kv, key_padding_mask=~token_mask.bool(), need_weights=False)
        return x + self.gate * att.transpose(1, 2).reshape(b, c, h, w)
