"""The disk cache of SAM image embeddings, keyed by a hash of explicit inputs.

A key is :func:`cache_key` of named parts, so the caller states what the embedding depends on: ``image`` (a
digest of the RGB pixels SAM sees), ``model`` (model name and the checkpoint's content hash) and ``input``
(the encoder's input size); :meth:`farmannot.sam.session.SamSession.key_for` is the one place that builds
it for every command. Where the pixels came from (``scene``, ``window``, ``bands``, ``stretch``) is stored
beside the entry. Same parts, same key, on any machine: a GPU box can fill the cache overnight and the
annotator's laptop reads it.

Entries are ``.npz`` files (no pickles) written atomically, two-level fan-out by key prefix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from farmannot.io.atomic import atomic_path

log = logging.getLogger(__name__)

#: Environment variable for the cache folder (``--cache-dir`` wins).
CACHE_ENV = "FARMANNOT_SAM_CACHE"
_FORMAT = 1
_EXTRA = "extra_"


@dataclass(frozen=True)
class Embedding:
    """A SAM image embedding and the two sizes the decoder needs to map prompts and masks.

    Attributes:
        features: float32 ``(256, h, w)`` encoder output.
        original_size: ``(rows, cols)`` of the image given to the encoder.
        input_size: ``(rows, cols)`` after resizing the longest side to the encoder's input size (SAM 2
            resizes to a square: ``(size, size)``).
        extras: Further float32 feature maps a model family's decoder needs (SAM 2: ``high_res_0``,
            ``high_res_1``).
    """

    features: np.ndarray
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def default_cache_dir() -> Path:
    """``$FARMANNOT_SAM_CACHE``, else ``$XDG_CACHE_HOME/farmannot/sam-embeddings`` (``~/.cache`` by default)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "farmannot" / "sam-embeddings"


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return float(f"{value:.9g}")  # tiny float noise must not split keys
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    raise TypeError(f"cache key part of type {type(value).__name__} is not JSON-like: {value!r}")


def cache_key(**parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts`` (str, numbers, lists, dicts)."""
    text = json.dumps(_canonical(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_digest(rgb: np.ndarray) -> str:
    """SHA-256 of an image's pixels, shape and dtype: the ``image`` part of a key."""
    arr = np.ascontiguousarray(rgb)
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


class EmbeddingCache:
    """Embeddings on disk under ``root`` with a small in-memory LRU in front (thread-safe).

    Args:
        root: Cache folder (created on first write); default :func:`default_cache_dir`.
        memory_items: How many embeddings to keep in memory as well.
        disk: ``False`` keeps embeddings in memory only (nothing is read from or written to ``root``).
    """

    def __init__(self, root: str | os.PathLike | None = None, memory_items: int = 8, disk: bool = True) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.disk = disk
        self._memory: OrderedDict[str, Embedding] = OrderedDict()
        self._memory_items = memory_items
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def _remember(self, key: str, emb: Embedding) -> None:
        with self._lock:
            self._memory[key] = emb
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)

    def in_memory(self, key: str) -> Embedding | None:
        with self._lock:
            emb = self._memory.get(key)
            if emb is not None:
                self._memory.move_to_end(key)
            return emb

    def __contains__(self, key: str) -> bool:
        return self.in_memory(key) is not None or (self.disk and self.path(key).is_file())

    def get(self, key: str) -> Embedding | None:
        """The embedding stored under ``key``, or ``None`` (a damaged entry counts as missing)."""
        emb = self.in_memory(key)
        if emb is not None or not self.disk:
            return emb
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                if int(npz["format"]) != _FORMAT:
                    return None
                emb = Embedding(
                    features=np.array(npz["features"], dtype=np.float32),
                    original_size=tuple(int(v) for v in npz["original_size"]),
                    input_size=tuple(int(v) for v in npz["input_size"]),
                    extras={k[len(_EXTRA):]: np.array(npz[k], dtype=np.float32) for k in npz.files
                            if k.startswith(_EXTRA)},
                )
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log.warning("%s: unreadable cache entry (%s); it will be recomputed", path, exc)
            return None
        self._remember(key, emb)
        return emb

    def put(self, key: str, emb: Embedding, parts: dict | None = None) -> Path:
        """Store ``emb`` under ``key`` (atomic); ``parts`` are kept beside it for inspection."""
        path = self.path(key)
        if not self.disk:
            self._remember(key, emb)
            return path
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    format=np.int32(_FORMAT),
                    features=np.ascontiguousarray(emb.features, dtype=np.float32),
                    original_size=np.asarray(emb.original_size, dtype=np.int64),
                    input_size=np.asarray(emb.input_size, dtype=np.int64),
                    parts=np.array(json.dumps(_canonical(parts or {}), sort_keys=True)),
                    **{_EXTRA + k: np.ascontiguousarray(v, dtype=np.float32) for k, v in emb.extras.items()},
                )
        self._remember(key, emb)
        return path
