"""SAM behind labelme's AI point/box tools, with embeddings computed off the GUI thread.

labelme's tools reach a model through ``Canvas._get_osam_session().run(...)``, which looks the model up by
name in ``osam.apis.registered_model_types``. :func:`register_model_type` adds a model type named
:data:`MODEL_NAME` whose ``generate`` asks :class:`SamBridge`; the bridge never computes an embedding on the
GUI thread: if the image's embedding is not in the cache yet it queues it on its worker thread, says so
in the status bar and returns no mask (labelme then reports "no annotation" and the annotator clicks
again when the status bar says SAM is ready).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osam
import osam.types
from PyQt5 import QtCore

from farmannot.errors import FarmannotError
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX, Rings
from farmannot.sam.click import Click, Drawn, click_polygons, labelme_rings, text_polygons
from farmannot.sam.imagery import render_picture
from farmannot.sam.model import CHECKPOINT_ENV
from farmannot.sam.session import SamSession

log = logging.getLogger(__name__)

#: The name labelme's AI model chooser shows and the canvas selects.
MODEL_NAME = "farmannot-sam:latest"
MODEL_LABEL = "farmannot SAM (checkpoint)"
NO_CHECKPOINT_HINT = ("SAM is off: no checkpoint. Start with `farmannot annotate --sam-checkpoint "
                      f"sam_vit_b_01ec64.pth` (or set {CHECKPOINT_ENV}); everything else works without it.")


@dataclass
class _Job:
    priority: int
    generation: int
    name: str
    rgb: np.ndarray | None = None  # the picture, when the GUI already has it
    path: str | None = None  # else rendered by the worker
    key: str | None = None


class SamBridge(QtCore.QObject):
    """Connects a :class:`SamSession` (or none) to the GUI.

    Signals:
        status(str): a one-line state for the status bar.
        embedding_ready(str, str, float, bool): name, cache key, seconds, cache hit.
        failed(str, str): title and message of an error to show in a dialog.
    """

    status = QtCore.pyqtSignal(str)
    embedding_ready = QtCore.pyqtSignal(str, str, float, bool)
    failed = QtCore.pyqtSignal(str, str)

    def __init__(self, session: SamSession | None, render_options: dict | None = None,
                 simplify_px: float = DEFAULT_SIMPLIFY_PX, min_area_px: float = 16.0, keep_apart: bool = True,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.render_options = dict(render_options or {})
        self.simplify_px = simplify_px
        self.min_area_px = min_area_px
        self.keep_apart = keep_apart
        self.current_rgb: np.ndarray | None = None
        self.current_key: str | None = None
        self.current_name = ""
        self._generation = 0
        self._pending: set[str] = set()
        self._busy_since: float | None = None
        self._lock = threading.Lock()
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- state -------------------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.session is not None

    def describe(self) -> str:
        if self.session is None:
            return NO_CHECKPOINT_HINT
        cfg = self.session.config
        return f"SAM {cfg.name if cfg else ''} on {self.session.device}"

    def is_ready(self) -> bool:
        return self.current_key is not None and self.session is not None and self.current_key in self.session.cache

    # -- scheduling (GUI thread) ---------------------------------------------------------------------------

    def prepare(self, rgb: np.ndarray, name: str, next_path: str | None = None) -> None:
        """An image was opened: embed it (and the next one) in the background unless cached."""
        self.current_rgb, self.current_name = rgb, name
        if self.session is None:
            self.current_key = None
            self.status.emit(NO_CHECKPOINT_HINT)
            return
        self._generation += 1
        self.current_key = self.session.key_for(rgb)
        if self.current_key in self.session.cache:
            self.status.emit(f"SAM ready on {name} (embedding from cache)")
        else:
            self._submit(_Job(0, self._generation, name, rgb=rgb, key=self.current_key))
            self.status.emit(f"SAM: computing the embedding of {name} in the background; "
                             "AI clicks work as soon as it is ready")
        if next_path:
            self._submit(_Job(1, self._generation, Path(next_path).name, path=str(next_path)))

    def show_without_embedding(self, rgb: np.ndarray, name: str) -> None:
        """An image is shown whose clicks go elsewhere (the scene grid's chips): cancel queued embeddings of
        earlier images and do not embed this one."""
        self.current_rgb, self.current_name, self.current_key = rgb, name, None
        self._generation += 1

    def embed_in_background(self, rgb: np.ndarray, name: str, key: str) -> None:
        """Queue the embedding of ``rgb`` (cache key ``key``) ahead of prefetches; ``embedding_ready`` says
        when it is done. A key already queued or computing is not queued twice."""
        self._submit(_Job(0, self._generation, name, rgb=rgb, key=key))

    def _submit(self, job: _Job) -> None:
        if job.key is not None:
            with self._lock:
                if job.key in self._pending:
                    return
                self._pending.add(job.key)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="farmannot-sam-embeddings", daemon=True)
            self._thread.start()
        self._queue.put((job.priority, next(self._seq), job))

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending) or self._busy_since is not None

    def close(self) -> None:
        self._closed = True
        self._queue.put((-1, next(self._seq), None))

    # -- worker thread ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None or self._closed:
                return
            if job.generation != self._generation:  # the annotator has moved on to another image
                if job.key is not None:
                    with self._lock:
                        self._pending.discard(job.key)
                continue
            key, owned = job.key, job.key is not None  # keyed jobs were marked pending in _submit
            try:
                rgb = job.rgb if job.rgb is not None else render_picture(job.path, **self.render_options).rgb
                if key is None:
                    key = self.session.key_for(rgb)
                    with self._lock:
                        if key in self._pending:
                            continue
                        self._pending.add(key)
                        owned = True
                with self._lock:
                    self._busy_since = time.perf_counter()
                t0 = time.perf_counter()
                # a prefetch (the next image) leaves the click its threads; the open image gets every core
                _, hit = self.session.embed(rgb, key=key, parts=self.session.key_parts(rgb),
                                            background=job.priority > 0)
                self.embedding_ready.emit(job.name, key, time.perf_counter() - t0, hit)
            except FarmannotError as exc:
                self.failed.emit("SAM embedding failed", str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the annotator, never swallowed
                log.exception("embedding failed")
                self.failed.emit("SAM embedding failed", f"{job.name}: {exc}\n\n{traceback.format_exc(limit=5)}")
            finally:
                with self._lock:
                    self._busy_since = None
                    if owned:
                        self._pending.discard(key)

    # -- prompts (any thread: the GUI's or the click worker's) ----------------------------------------------

    def _embedding(self, image: np.ndarray):
        """The cached embedding of ``image``, or ``None`` after queueing it (never computes here)."""
        key = self.current_key if image is self.current_rgb else self.session.key_for(image)
        emb = self.session.cached(key)
        if emb is None:
            self._submit(_Job(0, self._generation, self.current_name, rgb=image, key=key))
            self.status.emit(f"SAM: still computing the embedding of {self.current_name}; "
                             "click again when the status bar says ready")
        return emb

    def generate(self, image: np.ndarray, points, labels) -> tuple[np.ndarray, float] | None:
        """The best mask for a prompt, or ``None`` when SAM is off or the embedding is not ready yet."""
        emb = self._ready_embedding(image)
        return None if emb is None else self.session.predict(emb, points, labels)

    def field_rings(self, image: np.ndarray, points, labels, existing: list[Drawn] = ()) -> list[Rings] | None:
        """A prompt's field as labelme-vertex rings (holes kept aside in ``Rings.holes``); any thread, no Qt.

        :func:`farmannot.sam.click.click_polygons` (the clicked parts only, cut back at the fields drawn when
        ``keep_apart``; ``_background_`` holes stay free), then :func:`farmannot.sam.click.labelme_rings`.
        ``None`` when SAM is off or the embedding is not ready (queued, the status bar says so).
        """
        emb = self._ready_embedding(image)
        if emb is None:
            return None
        click = click_polygons(self.session, emb, points, labels, existing if self.keep_apart else (),
                               simplify_px=self.simplify_px, min_area_px=self.min_area_px)
        return labelme_rings(click.polygons)

    def _ready_embedding(self, image: np.ndarray):
        """The image's embedding, or ``None`` (the status bar says why) when SAM is off or it is not ready."""
        if self.session is None:
            self.status.emit(NO_CHECKPOINT_HINT)
            return None
        return self._embedding(image)

    def text_fields(self, image: np.ndarray, text: str, existing: list[Drawn] = ()) -> list[Click] | None:
        """Every instance of ``text`` (SAM 3) as pixel-edge polygons, best first; any thread, no Qt.

        :func:`farmannot.sam.click.text_polygons`, cut back at the fields drawn when ``keep_apart``. ``None``
        when SAM is off or the embedding is not ready (queued, the status bar says so).
        """
        emb = self._ready_embedding(image)
        if emb is None:
            return None
        return text_polygons(self.session, emb, image, text, existing if self.keep_apart else (),
                             simplify_px=self.simplify_px, min_area_px=self.min_area_px)


def _response(mask: np.ndarray | None, score: float = 0.0) -> osam.types.GenerateResponse:
    if mask is None or not mask.any():
        return osam.types.GenerateResponse(model=MODEL_NAME, annotations=[])
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    ann = osam.types.Annotation(
        mask=mask[y0:y1 + 1, x0:x1 + 1].copy(),
        bounding_box=osam.types.BoundingBox(xmin=x0, ymin=y0, xmax=x1, ymax=y1),
        score=score,
    )
    return osam.types.GenerateResponse(model=MODEL_NAME, annotations=[ann])


def full_mask(response: osam.types.GenerateResponse, shape: tuple[int, int]) -> np.ndarray:
    """The union of a response's (box-local) masks as one image-size mask."""
    out = np.zeros(shape, dtype=bool)
    for ann in response.annotations:
        if ann.mask is None or ann.bounding_box is None:
            continue
        bb = ann.bounding_box
        out[bb.ymin:bb.ymax + 1, bb.xmin:bb.xmax + 1] |= ann.mask
    return out


def register_model_type(bridge: SamBridge) -> type:
    """Register (or re-bind) the osam model type that forwards labelme's prompts to ``bridge``."""

    class FarmannotSam(osam.types.Model):
        name = MODEL_NAME
        _blobs: dict = {}  # nothing to download: get_size() is 0, so labelme's download check passes

        def __init__(self) -> None:  # no ONNX sessions: the weights are farmannot's torch checkpoint
            pass

        def encode_image(self, image: np.ndarray):
            # Embeddings live in farmannot's disk cache and are computed on the bridge's worker thread.
            raise NotImplementedError

        def generate(self, request: osam.types.GenerateRequest) -> osam.types.GenerateResponse:
            prompt = request.prompt
            if request.image is None or prompt is None or prompt.points is None:
                return _response(None)
            out = bridge.generate(request.image, prompt.points, prompt.point_labels)
            return _response(*out) if out is not None else _response(None)

    types = osam.apis.registered_model_types
    types[:] = [t for t in types if getattr(t, "name", None) != MODEL_NAME]
    types.insert(0, FarmannotSam)
    return FarmannotSam
