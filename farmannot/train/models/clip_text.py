"""An open_clip CLIP text encoder for trainable models, and caption token tables for the data pipeline.

The text tower is ``open_clip``'s own ``TextTransformer`` built from a text configuration (an open_clip
model name such as ``ViT-B-16`` whose bundled JSON gives it, or a dict for tests); pretrained weights come
from a CLIP state dict the user downloaded (``--clip-checkpoint``; open_clip ``.bin``/``.pt`` files, the
text keys of a whole CLIP model), read with ``torch.load(weights_only=True)``. Captions are tokenised with
open_clip's bundled BPE tokenizer (no download).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from farmannot.errors import InputError

DEFAULT_CLIP = "ViT-B-16"
_NOT_TEXT = ("visual.", "logit_scale", "logit_bias")


def clip_spec_from_name(name: str) -> dict:
    """``{'embed_dim', 'text_cfg', 'quick_gelu'}`` of an open_clip model name (bundled config, no download)."""
    import open_clip

    cfg = open_clip.get_model_config(name)
    if cfg is None:
        raise InputError(f"--clip-model {name!r}: not an open_clip model name (e.g. {DEFAULT_CLIP}, ViT-L-14).")
    text = dict(cfg["text_cfg"])
    if text.get("hf_tokenizer_name") or text.get("hf_model_name"):
        raise InputError(f"--clip-model {name!r}: its text tower is a Hugging Face model; choose a CLIP BPE model "
                         f"such as {DEFAULT_CLIP}.")
    return {"embed_dim": int(cfg["embed_dim"]), "text_cfg": text, "quick_gelu": bool(cfg.get("quick_gelu", False))}


def clip_spec_from_state(state: dict[str, torch.Tensor], path: str | Path, quick_gelu: bool = False) -> dict:
    """The text configuration of a CLIP state dict, read off its weight shapes (heads: width / 64, CLIP's rule)."""
    try:
        vocab, width = state["token_embedding.weight"].shape
        context = state["positional_embedding"].shape[0]
        embed_dim = state["text_projection"].shape[1]
        layers = len({m.group(1) for k in state if (m := re.match(r"transformer\.resblocks\.(\d+)\.", k))})
        mlp = state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    except (KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a CLIP state dict with a text tower (no {exc}).") from None
    return {"embed_dim": int(embed_dim), "quick_gelu": quick_gelu,
            "text_cfg": {"context_length": int(context), "vocab_size": int(vocab), "width": int(width),
                         "heads": max(1, int(width) // 64), "layers": layers, "mlp_ratio": mlp / width}}


def clip_spec_for_run(config: dict) -> dict:
    """The CLIP text configuration of a run: read off ``clip_checkpoint``, else from ``clip_model``."""
    from farmannot.train.models.sam_parts import read_state_dict

    path = config.get("clip_checkpoint")
    if path:
        return clip_spec_from_state(read_state_dict(path, "CLIP"), path, bool(config.get("clip_quick_gelu")))
    return clip_spec_from_name(config.get("clip_model") or DEFAULT_CLIP)


def build_text_tower(spec: dict) -> torch.nn.Module:
    """open_clip's ``TextTransformer`` for ``spec``, returning ``(pooled, token features)``; random weights."""
    from open_clip.model import CLIPTextCfg, _build_text_tower

    cfg = {k: v for k, v in spec["text_cfg"].items() if k in CLIPTextCfg.__dataclass_fields__}
    return _build_text_tower(int(spec["embed_dim"]), CLIPTextCfg(**cfg, output_tokens=True),
                             quick_gelu=bool(spec.get("quick_gelu", False)))


def load_text_tower(tower: torch.nn.Module, path: str | Path) -> None:
    """Load the text keys of a CLIP state dict into ``tower``.

    Raises:
        InputError: tensors missing or of another shape.
    """
    from farmannot.train.models.sam_parts import read_state_dict

    state = {k: v for k, v in read_state_dict(path, "CLIP").items() if not k.startswith(_NOT_TEXT)}
    try:
        missing, unexpected = tower.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise InputError(f"{path}: CLIP text weights do not fit the configured text encoder "
                         f"({str(exc).splitlines()[1] if len(str(exc).splitlines()) > 1 else exc}).") from None
    missing = [k for k in missing if k != "attn_mask"]
    if missing or unexpected:
        raise InputError(f"{path}: CLIP text weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]}).")


def tokenize(texts: list[str], context_length: int = 77) -> np.ndarray:
    """open_clip's BPE token ids, ``(N, context_length)`` int64, truncated (the paper's text max length is 77)."""
    import open_clip

    return open_clip.tokenize(list(texts), context_length=context_length).numpy().astype(np.int64)


class CaptionTokens:
    """Tile name -> CLIP token ids, with the same ``lookup`` as :class:`farmannot.train.text.CaptionTable`.

    ``lookup`` returns ``(token ids (context,) int64, an empty clause array, an empty mask)``: a CLIP-text
    model takes the ids as its ``text`` input and ignores the clause inputs.
    """

    def __init__(self, captions: dict[str, str], context_length: int = 77) -> None:
        names = sorted(captions)
        ids = tokenize([captions[n] for n in names], context_length) if names else np.zeros((0, context_length))
        self._ids = {n: ids[i] for i, n in enumerate(names)}
        self._empty = tokenize([""], context_length)[0]

    def lookup(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._ids.get(name, self._empty), np.zeros((1, 1), np.float32), np.zeros(1, bool)
