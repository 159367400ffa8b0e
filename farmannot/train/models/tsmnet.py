"""``tsmnet-text``: the text side of TSMNet (paper 004, sec. 3.3-3.5) around a segmentation encoder.

- Class-name prompts with learnable context (CoOp, TSMNet eq. 4): ``[SOS] p_1..p_M NAME . [EOS]`` through
  open_clip's CLIP text encoder; the ``M`` context vectors replace the placeholder word embeddings (a forward
  hook on the token embedding, so the rest is open_clip's own forward). The text encoder stays fixed by
  default: only the context learns, as in CoOp.
- Text refined by visual context (eqs. 5-6): ``v = Transformer(t, z, z)``, ``t <- t + gamma * v`` with a
  learnable ``gamma`` starting at 1e-4 (per channel), ``z`` the deepest encoder features projected into the
  CLIP embedding space.
- Pixel-text score map (eq. 7): ``s = z_hat t_hat^T`` (cosine), concatenated to the deepest feature map
  before an FPN decoder (smp's ``FPNDecoder``), and supervised by a per-pixel cross-entropy over the class
  names (the score map "as a segmentation result", sec. 3.3).
- Scene caption (sec. 3.4, eq. 10): with ``image+text``, the caption embedding and the pooled image
  features are aligned by a symmetric InfoNCE over the batch, and the caption's clauses are fused into the
  three deepest feature maps by cross-attention, one per scale, each behind a zero-initialised gate.

The loss is the trainer's BCE + Dice on the parcel logits plus :meth:`TSMNetText.auxiliary_loss`
(score-map cross-entropy + InfoNCE), TSMNet eq. 11 for two classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from farmannot.train.models.clip_text import build_text_tower, load_text_tower, tokenize

DEFAULT_CLASSES = ("background", "farmland")
DEFAULT_CONTEXT = 4
GAMMA_INIT = 1e-4


class PromptLearner(nn.Module):
    """CoOp prompts: learnable context vectors in front of each class name, through a CLIP text tower."""

    def __init__(self, tower: nn.Module, class_names: list[str], n_context: int = DEFAULT_CONTEXT) -> None:
        super().__init__()
        self.tower = tower
        self.n_context = n_context
        ctx_len = int(tower.positional_embedding.shape[0])
        placeholder = " ".join(["X"] * n_context)
        self.register_buffer("ids", torch.from_numpy(tokenize([f"{placeholder} {n}." for n in class_names], ctx_len)),
                             persistent=False)
        width = int(tower.token_embedding.weight.shape[1])
        self.context = nn.Parameter(torch.randn(n_context, width) * 0.02)

    def _insert(self, module, args, out):
        out = out.clone()
        out[:, 1:1 + self.n_context] = self.context.to(out.dtype)
        return out

    def forward(self) -> torch.Tensor:
        """The class text features ``K x D`` (CLIP's pooled, projected output)."""
        handle = self.tower.token_embedding.register_forward_hook(self._insert)
        try:
            pooled, _ = self.tower(self.ids)
        finally:
            handle.remove()
        return pooled


class CaptionFusion(nn.Module):
    """Pixels of one feature map attend to the caption's clause embeddings; added behind a zero gate."""

    def __init__(self, channels: int, text_dim: int, dim: int = 64) -> None:
        super().__init__()
        self.q = nn.Conv2d(channels, dim, 1)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.out = nn.Conv2d(dim, channels, 1)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, f: torch.Tensor, clauses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, _, h, w = f.shape
        q = self.q(f).flatten(2).transpose(1, 2)  # B x hw x d
        k, v = self.kv(clauses.to(q.dtype)).chunk(2, dim=-1)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :].bool())
        return f + self.gate * self.out(att.transpose(1, 2).reshape(b, -1, h, w))


class TSMNetText(nn.Module):
    """The model; ``forward(image, text=caption embedding, clauses=..., clause_mask=...)`` -> logits.

    Args:
        spec: ``config['tsmnet']`` (encoder, CLIP text configuration, class names, context length, freezing).
        in_channels: image bands (extra co-registered bands enter the encoder as channels).
        inputs: ``image`` or ``image+text``.
        text_dim: caption embedding size.
    """

    def __init__(self, spec: dict, in_channels: int, inputs: str = "image+text", text_dim: int = 384) -> None:
        super().__init__()
        from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder
        from segmentation_models_pytorch.encoders import get_encoder

        self.spec = spec
        self.encoder = get_encoder(spec["encoder"], in_channels=in_channels, depth=5,
                                   weights=spec.get("encoder_weights"))
        chs = list(self.encoder.out_channels)
        dim = int(spec["clip"]["embed_dim"])
        self.class_names = list(spec["class_names"])
        k = len(self.class_names)
        self.prompts = PromptLearner(build_text_tower(spec["clip"]), self.class_names,
                                     int(spec.get("context", DEFAULT_CONTEXT)))
        if "text-encoder" in spec.get("freeze", ["text-encoder"]):
            self.prompts.tower.requires_grad_(False)
        self.visual = nn.Conv2d(chs[-1], dim, 1)
        self.refine = nn.TransformerDecoderLayer(dim, max(1, dim // 64), 4 * dim, dropout=0.0, batch_first=True)
        self.gamma = nn.Parameter(torch.full((dim,), GAMMA_INIT))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.use_caption = "text" in inputs
        if self.use_caption:
            self.fusion = nn.ModuleList(CaptionFusion(c, text_dim) for c in chs[-3:])
            self.caption_proj = nn.Linear(text_dim, dim)
            self.image_proj = nn.Linear(dim, dim)
        dec_chs = chs[:-1] + [chs[-1] + k]
        self.decoder = FPNDecoder(dec_chs, encoder_depth=5, pyramid_channels=128, segmentation_channels=64,
                                  dropout=0.0)
        self.head = nn.Conv2d(64, 1, 1)
        self._aux: dict | None = None

    def load_pretrained(self) -> None:
        if self.spec.get("clip_checkpoint"):
            load_text_tower(self.prompts.tower, self.spec["clip_checkpoint"])

    def text_features(self, z: torch.Tensor) -> torch.Tensor:
        """Class text features refined by the visual context: ``B x K x D``."""
        t = self.prompts()[None].expand(z.shape[0], -1, -1).to(z.dtype)
        v = self.refine(t, z.flatten(2).transpose(1, 2))
        return t + self.gamma * v

    def score_map(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every pixel with every class text: ``B x K x h x w``."""
        return torch.einsum("bdhw,bkd->bkhw", F.normalize(z, dim=1), F.normalize(t, dim=-1))

    def forward(self, image: torch.Tensor, text: torch.Tensor | None = None, clauses: torch.Tensor | None = None,
                clause_mask: torch.Tensor | None = None, dem=None) -> torch.Tensor:
        feats = list(self.encoder(image))
        if self.use_caption:
            if text is None or clauses is None or clause_mask is None:
                raise ValueError("this model takes a caption embedding and its clauses (text inputs)")
            n = len(self.fusion)
            feats[-n:] = [fuse(f, clauses, clause_mask) for fuse, f in zip(self.fusion, feats[-n:])]
        z = self.visual(feats[-1])
        t = self.text_features(z)
        s = self.score_map(z, t)
        feats[-1] = torch.cat([feats[-1], s.to(feats[-1].dtype)], dim=1)
        logits = self.head(self.decoder(feats))
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        self._aux = {"score": s, "z": z, "caption": text} if self.training else None
        return logits

    def auxiliary_loss(self, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Score-map cross-entropy over the class names (class 1 = parcel) plus the caption InfoNCE, from the
        last training forward."""
        aux = self._aux
        s = aux["score"].float() * self.logit_scale.exp().clamp(max=100)
        size = s.shape[-2:]
        tgt = F.interpolate(target.reshape(-1, 1, *target.shape[-2:]).float(), size=size, mode="nearest")[:, 0]
        ok = F.interpolate(valid.reshape(-1, 1, *valid.shape[-2:]).float(), size=size, mode="nearest")[:, 0] > 0.5
        ce = F.cross_entropy(s, (tgt > 0.5).long(), reduction="none")
        loss = (ce * ok).sum() / ok.sum().clamp(min=1)
        if self.use_caption and aux["caption"] is not None and s.shape[0] > 1:
            img = F.normalize(self.image_proj(aux["z"].float().mean(dim=(2, 3))), dim=-1)
            cap = F.normalize(self.caption_proj(aux["caption"].float()), dim=-1)
            logits = self.logit_scale.exp().clamp(max=100) * img @ cap.t()
            labels = torch.arange(len(img), device=img.device)
            loss = loss + (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        return loss


def prepare_config(config: dict) -> dict:
    """Fill ``config['tsmnet']``: encoder, CLIP text configuration (from ``clip_checkpoint`` or
    ``clip_model``), class names (``class_names``, comma-separated; the last is the parcel class), context
    length and frozen parts (default: the text encoder)."""
    from farmannot.errors import InputError
    from farmannot.train.models.clip_text import clip_spec_for_run
    from farmannot.train.models.registry import default_encoder

    if config.get("tsmnet"):
        return config
    names = config.get("class_names") or ",".join(DEFAULT_CLASSES)
    classes = [n.strip() for n in names.split(",") if n.strip()]
    if len(classes) != 2:
        raise InputError(f"--class-names {names!r}: give two names, background first, then the parcel class "
                         "(e.g. 'other land,farmland').")
    freeze = config.get("freeze")
    spec = {"encoder": config.get("encoder") or default_encoder("tsmnet-text"),
            "encoder_weights": config.get("encoder_weights"), "clip": clip_spec_for_run(config),
            "class_names": classes, "context": DEFAULT_CONTEXT,
            "freeze": ["text-encoder"] if freeze is None else list(freeze),
            "clip_checkpoint": config.get("clip_checkpoint")}
    return config | {"tsmnet": spec}


def build_tsmnet(config: dict, pretrained: bool = False) -> TSMNetText:
    if not config.get("tsmnet"):
        config = prepare_config(config)
    model = TSMNetText(config["tsmnet"], int(config["in_channels"]), config.get("inputs", "image"),
                       int(config.get("text_dim", 384)))
    if pretrained:
        model.load_pretrained()
    return model
