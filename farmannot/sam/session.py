"""A SAM session: one model of any family, its embedding cache, and prompts -> masks (the polygons of a
prompt: :func:`farmannot.sam.click.click_polygons`).

The session holds no per-image state, so one thread can compute an embedding while another decodes
clicks on an embedding it already has (the GUI does exactly that). Encoding is serialised by a lock. The
model is reached through a backend (:mod:`farmannot.sam.backends`): SAM, SAM 2.1, all the same to callers.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Literal

import numpy as np

from farmannot.sam.backends import backend_for
from farmannot.sam.cache import Embedding, EmbeddingCache, cache_key, image_digest
from farmannot.sam.model import TINY
from farmannot.sam.prompts import prompt_from_labelme
from farmannot.sam.threads import ThreadBudget, torch_threads

#: Where clicks are decoded: torch (the reference), onnxruntime (the fast CPU path, the same masks), or
#: onnxruntime with int8 weights (segment-anything's own quantisation: faster, masks differ at the edges).
DecoderRuntime = Literal["torch", "onnx", "onnx-int8"]

#: ``FARMANNOT_SAM_DECODER=torch`` forces the torch decoder.
DECODER_ENV = "FARMANNOT_SAM_DECODER"


def default_decoder(device: str = "cpu") -> DecoderRuntime:
    """onnxruntime for clicks on a CPU when it is installed (labelme depends on it), else torch."""
    forced = os.environ.get(DECODER_ENV)
    if forced in ("torch", "onnx", "onnx-int8"):
        return forced  # type: ignore[return-value]
    if str(device) != "cpu":
        return "torch"
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def _as_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"SAM expects uint8 RGB, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"SAM expects an (H, W, 3) image, got shape {img.shape}")
    return np.ascontiguousarray(img)


class SamSession:
    """A loaded SAM model with its embedding cache.

    Args:
        sam: A segment-anything ``Sam`` or sam2 ``SAM2Base`` module, or a backend from
            :mod:`farmannot.sam.backends`.
        model_id: What identifies the weights in cache keys (model name and checkpoint content hash).
        cache: Where embeddings are kept; ``None`` keeps them in memory only.
        config: The model configuration (``.name`` for messages).
    """

    def __init__(self, sam, model_id: str, cache: EmbeddingCache | None = None, config=None,
                 decoder: DecoderRuntime = "torch") -> None:
        self.backend = sam if hasattr(sam, "encode") else backend_for(sam)
        self.sam = self.backend.module
        self.model_id = model_id
        self.cache = cache if cache is not None else EmbeddingCache(memory_items=8, disk=False)
        self.config = config
        # onnxruntime decodes segment-anything's clicks; other families keep their torch decoder
        self.decoder: DecoderRuntime = decoder if self.backend.family == "sam" else "torch"
        self.threads = ThreadBudget.for_machine()
        self._encode_lock = threading.Lock()
        self._onnx = None
        self._onnx_lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, model_type: str | None = None,
                        device: str = "cpu", cache: EmbeddingCache | None = None,
                        decoder: DecoderRuntime | None = None) -> SamSession:
        """Load any registered family's ``checkpoint`` (:func:`farmannot.sam.registry.load_model`); the cache
        key uses the model name and the file's content hash.

        ``decoder``: where clicks are decoded (default :func:`default_decoder`: onnxruntime on a CPU).
        """
        from farmannot.sam.registry import load_model

        backend, config, model_id = load_model(checkpoint, model_type, device)
        return cls(backend, model_id=model_id, cache=cache, config=config,
                   decoder=decoder or default_decoder(device))

    @classmethod
    def random(cls, config=TINY, seed: int = 0, cache: EmbeddingCache | None = None) -> SamSession:
        """A session on a random-weight model (a ``SamConfig`` or ``Sam2Config``): tests, benchmarks."""
        from farmannot.sam.registry import random_backend

        return cls(random_backend(config, seed), model_id=f"random:{config.name}:seed{seed}", cache=cache,
                   config=config)

    @property
    def family(self) -> str:
        return self.backend.family

    @property
    def img_size(self) -> int:
        return self.backend.img_size

    @property
    def device(self):
        return self.backend.device

    @property
    def supports_text_prompts(self) -> bool:
        """Whether the model segments every instance of a text (a concept prompt): SAM 3's ``text_masks``."""
        return hasattr(self.backend, "text_masks")

    # -- embeddings ------------------------------------------------------------------------------------

    def key_parts(self, rgb: np.ndarray, **origin) -> dict:
        """What an embedding of ``rgb`` is recorded with: the key's parts plus ``origin`` (scene, window, bands...)."""
        return {**self._identity(rgb), **origin}

    def _identity(self, rgb: np.ndarray) -> dict:
        return {"image": image_digest(_as_rgb(rgb)), "model": self.model_id, "input": self.img_size}

    def key_for(self, rgb: np.ndarray) -> str:
        """The one cache key of ``rgb``'s embedding: the pixels' digest, the model (family, configuration and
        checkpoint hash) and the encoder input size. Every command keys through here; where the pixels came
        from (scene, window, band mapping, stretch) decides the pixels and so the digest, and is stored beside
        the entry, not in the key: a renamed copy of a scene hits, and so does a picture that equals a chip."""
        return cache_key(**self._identity(rgb))

    def cached(self, key: str) -> Embedding | None:
        """The embedding for ``key`` if memory or disk has it, else ``None`` (never computes)."""
        return self.cache.get(key)

    def compute_embedding(self, rgb: np.ndarray, background: bool = False) -> Embedding:
        """Run the image encoder (slow: seconds on a CPU for ViT-B); no cache involved.

        ``background``: an embedding nobody waits for yet (the next image): torch gets the cores the clicks
        leave (:class:`ThreadBudget`). While it runs, clicks keep to their share (:meth:`click_threads`).
        """
        rgb = _as_rgb(rgb)
        with self._encode_lock, torch_threads(self.threads.background if background else None):
            return self.backend.encode(rgb)

    def embed(self, rgb: np.ndarray, key: str | None = None, parts: dict | None = None,
              background: bool = False) -> tuple[Embedding, bool]:
        """The embedding of ``rgb``, from the cache when present, else computed and stored.

        Returns:
            ``(embedding, hit)`` where ``hit`` says whether the cache answered.
        """
        if key is None:
            parts = self.key_parts(rgb)
            key = cache_key(**parts)  # no origin given: the parts are exactly the key's
        emb = self.cached(key)
        if emb is not None:
            return emb, True
        emb = self.compute_embedding(rgb, background=background)
        self.cache.put(key, emb, parts)
        return emb, False

    # -- prompts -> masks -> polygons --------------------------------------------------------------------

    def predict(self, emb: Embedding, points, labels) -> tuple[np.ndarray, float]:
        """The best mask (bool, image size) for labelme-style ``points``/``labels`` on ``emb``.

        The same steps as the family's predictor (prompt encoder, mask decoder, upsampling), except that only
        the chosen mask is upsampled to the image size. With ``decoder="onnx"`` (segment-anything models) the
        prompt encoder and mask decoder run in onnxruntime (:mod:`farmannot.sam.onnx_decoder`).
        """
        prompt = prompt_from_labelme(points, labels)
        if self.decoder in ("onnx", "onnx-int8"):
            return self._predict_onnx(emb, prompt)
        return self.backend.decode(emb, prompt)

    @property
    def embedding_running(self) -> bool:
        """Whether the image encoder is computing an embedding now (it holds the encoder's lock)."""
        return self._encode_lock.locked()

    def click_threads(self) -> int:
        """The most onnxruntime threads a click may use now: the budget's share while an embedding is
        computed, else the idle cores (:class:`ThreadBudget`)."""
        return self.threads.click_threads(self.embedding_running)

    def onnx_decoder(self):
        """The onnxruntime decoder of this model (exported once, kept beside the embedding cache), with a
        session for the click's threads beside an embedding and one for its threads without."""
        from farmannot.sam.onnx_decoder import OnnxDecoder

        with self._onnx_lock:
            if self._onnx is None:
                self._onnx = OnnxDecoder(self.sam, self.model_id,
                                         cache_dir=self.cache.root if self.cache.disk else None,
                                         threads=(self.threads.click, self.threads.idle_click),
                                         quantized=self.decoder == "onnx-int8")
            return self._onnx

    def _predict_onnx(self, emb: Embedding, prompt) -> tuple[np.ndarray, float]:
        from segment_anything.utils.transforms import ResizeLongestSide

        from farmannot.sam.onnx_decoder import ROI_FRACTION, padded_points, upsample_mask

        coords, labels = padded_points(prompt, ResizeLongestSide(self.img_size), emb.original_size)
        busy = self.embedding_running  # a click whose embedding state changes as it runs is not timed
        low_res, iou = self.onnx_decoder().decode(emb.features, coords, labels,
                                                  threads=self.click_threads(),
                                                  same_conditions=lambda: self.embedding_running == busy)
        best = max([1, 2, 3] if prompt.multimask else [0], key=lambda i: float(iou[i]))  # as the torch path
        # only the chosen mask, and only where it can be true; a mask spread over the picture: torch's resize
        sam = self.sam
        mask = upsample_mask(low_res[best], emb.input_size, emb.original_size, self.img_size,
                             float(sam.mask_threshold), max_fraction=ROI_FRACTION)
        if mask is None:
            import torch

            with torch.inference_mode():
                up = sam.postprocess_masks(torch.from_numpy(low_res[None, best:best + 1]).to(self.device),
                                           tuple(emb.input_size), tuple(emb.original_size))
                mask = (up[0, 0] > sam.mask_threshold).cpu().numpy()
        return mask, float(iou[best])


def time_call(fn, *args, **kwargs):
    """``(result, seconds)`` of one call (benchmarks and status messages)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def session_from_options(checkpoint: str | os.PathLike | None, model_type: str | None, device: str,
                         cache_dir: str | os.PathLike | None) -> SamSession:
    """The session the CLI options describe (``checkpoint`` or ``$FARMANNOT_SAM_CHECKPOINT``)."""
    from farmannot.errors import InputError
    from farmannot.sam.model import CHECKPOINT_ENV

    checkpoint = checkpoint or os.environ.get(CHECKPOINT_ENV)
    if not checkpoint:
        raise InputError(f"no SAM checkpoint: pass --sam-checkpoint PATH (sam2.1_hiera_tiny.pt for a CPU, or a "
                         f"segment-anything .pth such as sam_vit_b_01ec64.pth) or set {CHECKPOINT_ENV}.")
    return SamSession.from_checkpoint(Path(checkpoint), model_type=model_type, device=device,
                                      cache=EmbeddingCache(cache_dir))
