"""SAM's prompt encoder and mask decoder run through onnxruntime: the click path labelme and osam use.

A click only needs the decoder (about 4 M parameters) on an embedding that is already cached; torch's eager
overhead dominates there, onnxruntime runs the same graph in a fraction of the time. A click may use the
cores when no embedding is computed and keeps to one thread (on 2-3 cores) while the image encoder works on
the next image in the background (:class:`farmannot.sam.threads.ThreadBudget`): one onnxruntime session per
thread count, since a session's threads are fixed when it starts, and the count whose recent clicks were
fastest runs the click (:class:`farmannot.sam.threads.FasterThreads`).

The graph is segment-anything's own ONNX export (``segment_anything.utils.onnx.SamOnnxModel``: points and box
corners as one padded point list, label -1 for padding) cut before mask selection and upsampling, so the
mask is chosen exactly as :meth:`farmannot.sam.session.SamSession.predict` chooses it (the three multimask
outputs for one click, the single output otherwise) and only the chosen low-resolution mask is upsampled.
The exported model is kept beside the embedding cache, keyed by the weights' id, so it is exported once.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from farmannot.io.atomic import write_bytes
from farmannot.sam.prompts import Prompt
from farmannot.sam.threads import FasterThreads

#: Threads onnxruntime uses for one click by default (the session's ``ThreadBudget`` decides how many a click
#: gets while an embedding is computed and while none is).
CLICK_THREADS = 1
_OPSET = 17


def _decoder_module(sam):
    """The torch module that is exported: embeddings + padded points -> 4 low-res masks and IoU scores."""
    import torch
    from segment_anything.utils.onnx import SamOnnxModel

    class _Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.onnx_model = SamOnnxModel(sam, return_single_mask=False)

        def forward(self, image_embeddings, point_coords, point_labels):
            m = self.onnx_model
            sparse = m._embed_points(point_coords, point_labels)
            grid = image_embeddings.shape[-2:]
            dense = m.model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, *grid)
            return m.model.mask_decoder.predict_masks(
                image_embeddings=image_embeddings, image_pe=m.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense)

    return _Decoder().eval()


def export_decoder(sam) -> bytes:
    """The ONNX bytes of ``sam``'s prompt encoder + mask decoder (torch's TorchScript exporter)."""
    import warnings

    import torch

    grid = sam.prompt_encoder.image_embedding_size
    dummy = (torch.zeros(1, sam.prompt_encoder.embed_dim, *grid), torch.zeros(1, 2, 2), torch.tensor([[1.0, -1.0]]))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python scalars in segment-anything's modules
        torch.onnx.export(_decoder_module(sam), dummy, buf, dynamo=False, opset_version=_OPSET,
                          input_names=["image_embeddings", "point_coords", "point_labels"],
                          output_names=["low_res_masks", "iou_predictions"],
                          dynamic_axes={"point_coords": {1: "points"}, "point_labels": {1: "points"}})
    return buf.getvalue()


def quantize_decoder(model: bytes) -> bytes:
    """The decoder with int8 weights: segment-anything's own option (``scripts/export_onnx_model.py
    --quantize-out``: onnxruntime's dynamic quantisation, unsigned 8-bit weights, per tensor)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "decoder.onnx", Path(tmp) / "decoder-int8.onnx"
        src.write_bytes(model)
        quantize_dynamic(src, dst, per_channel=False, reduce_range=False, weight_type=QuantType.QUInt8)
        return dst.read_bytes()


def padded_points(prompt: Prompt, transform, original_size) -> tuple[np.ndarray, np.ndarray]:
    """SAM's ONNX point input: clicks, then box corners (labels 2, 3), or a padding point when no box.

    Coordinates are mapped to the encoder's input frame as ``SamPredictor`` maps them.
    """
    coords, labels = [], []
    if prompt.point_coords is not None:
        coords.append(transform.apply_coords(prompt.point_coords.astype(np.float64), original_size))
        labels.append(prompt.point_labels.astype(np.float32))
    if prompt.box is not None:
        coords.append(transform.apply_boxes(prompt.box[None].astype(np.float64), original_size).reshape(2, 2))
        labels.append(np.array([2.0, 3.0], np.float32))
    else:
        coords.append(np.zeros((1, 2)))
        labels.append(np.array([-1.0], np.float32))
    return (np.concatenate(coords)[None].astype(np.float32), np.concatenate(labels)[None].astype(np.float32))


def _taps(n_out: int, n_in: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of output indices ``idx`` resizing ``n_in`` -> ``n_out`` samples as torch's
    ``F.interpolate(mode="bilinear", align_corners=False)`` takes them: ``(i0, i1, w0, w1)``."""
    src = np.maximum((idx + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    return i0, i1, 1.0 - w1, w1


def _axis(n_low: int, img_size: int, n_input: int, n_orig: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution indices and weights (4 taps) of original-image indices ``idx`` through SAM's two
    resizes: low-res -> ``img_size`` (then cropped to ``n_input``) -> ``n_orig``."""
    a0, a1, wa0, wa1 = _taps(n_orig, n_input, idx)
    b00, b01, wb00, wb01 = _taps(img_size, n_low, a0)
    b10, b11, wb10, wb11 = _taps(img_size, n_low, a1)
    return (np.stack([b00, b01, b10, b11]),
            np.stack([wa0 * wb00, wa0 * wb01, wa1 * wb10, wa1 * wb11]))


#: Above this fraction of the picture, the region a mask can cover is upsampled by torch over the whole
#: picture instead (numpy's 4 x 4 taps per pixel cost about 4x torch's resize per pixel: ``bench_click.py``).
ROI_FRACTION = 0.2


def upsample_mask(low_res: np.ndarray, input_size, original_size, img_size: int, threshold: float = 0.0,
                  max_fraction: float = 1.0) -> np.ndarray | None:
    """SAM's ``postprocess_masks`` + threshold for one low-resolution logit map, computed only where it can be
    true.

    ``Sam.postprocess_masks`` resizes the logits to the encoder's square input, crops the padding away and
    resizes to the picture; every output value is a weighted mean (non-negative weights) of at most 4 x 4
    low-resolution logits, so outside the rows and columns whose taps reach a logit above ``threshold`` the
    mask is false, exactly. Inside, the two separable resizes are evaluated as composed taps (float64; torch
    rounds the intermediate to float32, so a logit within rounding of the threshold may come out the other way).

    ``max_fraction``: ``None`` is returned when that region is larger than this fraction of the picture (a
    mask spread over the picture: torch's whole-picture resize is then faster, see :data:`ROI_FRACTION`).
    """
    low = np.asarray(low_res, dtype=np.float64)
    out = np.zeros(tuple(original_size), dtype=bool)
    pos = low > threshold
    rows_any, cols_any = np.flatnonzero(pos.any(axis=1)), np.flatnonzero(pos.any(axis=0))
    if not len(rows_any):
        return out
    (h_in, w_in), (h, w) = tuple(input_size), tuple(original_size)
    ri, rw = _axis(low.shape[0], img_size, h_in, h, np.arange(h))
    ci, cw = _axis(low.shape[1], img_size, w_in, w, np.arange(w))
    rows = np.flatnonzero((ri.max(axis=0) >= rows_any[0]) & (ri.min(axis=0) <= rows_any[-1]))
    cols = np.flatnonzero((ci.max(axis=0) >= cols_any[0]) & (ci.min(axis=0) <= cols_any[-1]))
    if not len(rows) or not len(cols):
        return out
    if len(rows) * len(cols) > max_fraction * h * w:
        return None
    ri, rw, ci, cw = ri[:, rows], rw[:, rows], ci[:, cols], cw[:, cols]
    c_lo, c_hi = int(ci.min()), int(ci.max()) + 1
    band = sum(rw[k][:, None] * low[ri[k], c_lo:c_hi] for k in range(4))  # (rows, low-res columns)
    val = sum(cw[k][None, :] * band[:, ci[k] - c_lo] for k in range(4))
    out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = val > threshold
    return out


class OnnxDecoder:
    """onnxruntime sessions of one SAM's decoder, one per thread count a click may get.

    onnxruntime fixes a session's intra-op threads when it starts, so a click that may use the cores when no
    embedding is computed and fewer while one is (:meth:`farmannot.sam.session.SamSession.click_threads`)
    needs a session for each: the same graph, a few tens of MB each for ViT-B/L/H's decoder. Which of them
    runs a click that may use several is measured on the clicks (:class:`farmannot.sam.threads.FasterThreads`).

    Args:
        sam: The segment-anything ``Sam`` whose prompt encoder and mask decoder are exported.
        model_id: The weights' id (a checkpoint hash); names the exported file under ``cache_dir``.
        cache_dir: Where the exported ``.onnx`` is kept; ``None`` exports in memory every time.
        threads: onnxruntime intra-op thread count(s) a click may run on; a session is started for each.
        quantized: int8 weights (:func:`quantize_decoder`).
    """

    def __init__(self, sam, model_id: str, cache_dir: str | os.PathLike | None = None,
                 threads: int | Iterable[int] = CLICK_THREADS, quantized: bool = False) -> None:
        model = self._load_or_export(sam, model_id, cache_dir, quantized)
        counts = sorted({int(threads)} if isinstance(threads, int) else {int(n) for n in threads})
        if not counts or counts[0] < 1:
            raise ValueError(f"threads must be positive, got {threads!r}")
        self._sessions = {n: (_start_session(model, n), threading.Lock()) for n in counts}
        self.chooser = FasterThreads(counts)

    @property
    def threads(self) -> tuple[int, ...]:
        """The thread counts a session was started for, ascending."""
        return tuple(self._sessions)

    def session(self, threads: int):
        """The onnxruntime session started for ``threads``."""
        return self._sessions[threads][0]

    @staticmethod
    def _load_or_export(sam, model_id: str, cache_dir, quantized: bool = False) -> bytes:
        def make() -> bytes:
            model = export_decoder(sam)
            return quantize_decoder(model) if quantized else model

        if cache_dir is None:
            return make()
        tag = f"{model_id}|decoder|opset{_OPSET}" + ("|int8" if quantized else "")
        name = hashlib.sha256(tag.encode()).hexdigest()[:32]
        path = Path(cache_dir) / "decoders" / f"{name}.onnx"
        if path.is_file():
            return path.read_bytes()
        model = make()
        write_bytes(path, model)
        return model

    def decode(self, features: np.ndarray, coords: np.ndarray, labels: np.ndarray,
               threads: int | None = None,
               same_conditions: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Low-resolution mask logits ``(4, h, w)`` and IoU predictions ``(4,)`` for one padded prompt, on at most
        ``threads`` threads (``None``: the fewest started; :class:`FasterThreads` picks among those that fit);
        every session gives the same logits up to float rounding. ``same_conditions``, asked after the run,
        says whether the conditions ``threads`` was decided on still hold (no embedding started or ended
        meanwhile); when it says no, the click's time is not recorded."""
        feed = {"image_embeddings": np.ascontiguousarray(features[None], dtype=np.float32),
                "point_coords": coords, "point_labels": labels}
        choice = self.chooser.choose(threads)
        session, lock = self._sessions[choice.threads]
        seconds = None
        try:
            with lock:
                t0 = time.perf_counter()
                masks, iou = session.run(None, feed)
                seconds = time.perf_counter() - t0
        finally:
            counts = seconds is not None and (same_conditions is None or same_conditions())
            self.chooser.record(choice, seconds if counts else None)
        return masks[0], iou[0]


def _start_session(model: bytes, threads: int):
    """An onnxruntime CPU session of ``model`` on ``threads`` intra-op threads (:func:`_session_options`)."""
    import onnxruntime as ort

    return ort.InferenceSession(model, _session_options(threads), providers=["CPUExecutionProvider"])


def _session_options(threads: int):
    """The decoder sessions' options on ``threads`` intra-op threads (the options measured in
    ``bench/bench_decoder_options.py``)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # fusions, constant folding
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # idle decoder threads sleep instead of spinning on the cores the background encoder is using
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
