"""BCE + Dice loss of parcel logits, ignoring pixels marked invalid (label 255)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                  dice_weight: float = 1.0, smooth: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy (mean over valid pixels) plus soft Dice loss over the batch.

    Args:
        logits: ``B x 1 x H x W`` (or ``B x H x W``) raw scores.
        target: ``B x H x W`` 0/1 parcel mask.
        valid: ``B x H x W`` bool; False pixels add nothing.
        dice_weight: weight of the Dice term.
        smooth: Dice smoothing constant.
    """
    logits = logits.reshape(target.shape).float()
    target = target.float()
    w = torch.ones_like(target) if valid is None else valid.float()
    n = w.sum().clamp_min(1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * w).sum() / n
    p = torch.sigmoid(logits) * w
    t = target * w
    dice = 1 - (2 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)
    return bce + dice_weight * dice
