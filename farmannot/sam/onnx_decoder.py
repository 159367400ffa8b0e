"""SAM's prompt encoder and mask decoder run through onnxruntime: the click path labelme and osam use.

A click only needs the decoder (about 4 M parameters) on an embedding that is already cached; torch's eager
overhead dominates there, onnxruntime runs the same graph in a fraction of the time on one thread, which
leaves the other cores to the image encoder working on the next image in the background.

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
from pathlib import Path

import numpy as np

from farmannot.io.atomic import write_bytes
from farmannot.sam.prompts import Prompt

#: Threads onnxruntime uses for one click (the encoder thread keeps the rest).
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


class OnnxDecoder:
    """An onnxruntime session of one SAM's decoder.

    Args:
        sam: The segment-anything ``Sam`` whose prompt encoder and mask decoder are exported.
        model_id: The weights' id (a checkpoint hash); names the exported file under ``cache_dir``.
        cache_dir: Where the exported ``.onnx`` is kept; ``None`` exports in memory every time.
        threads: onnxruntime intra-op threads for one click.
    """

    def __init__(self, sam, model_id: str, cache_dir: str | os.PathLike | None = None,
                 threads: int = CLICK_THREADS) -> None:
        import onnxruntime as ort

        model = self._load_or_export(sam, model_id, cache_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    @staticmethod
    def _load_or_export(sam, model_id: str, cache_dir) -> bytes:
        if cache_dir is None:
            return export_decoder(sam)
        name = hashlib.sha256(f"{model_id}|decoder|opset{_OPSET}".encode()).hexdigest()[:32]
        path = Path(cache_dir) / "decoders" / f"{name}.onnx"
        if path.is_file():
            return path.read_bytes()
        model = export_decoder(sam)
        write_bytes(path, model)
        return model

    def decode(self, features: np.ndarray, coords: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Low-resolution mask logits ``(4, h, w)`` and IoU predictions ``(4,)`` for one padded prompt."""
        feed = {"image_embeddings": np.ascontiguousarray(features[None], dtype=np.float32),
                "point_coords": coords, "point_labels": labels}
        with self._lock:
            masks, iou = self._session.run(None, feed)
        return masks[0], iou[0]
