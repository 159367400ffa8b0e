"""``farmannot predict --classes``: open-vocabulary class maps of a whole scene from a frozen CLIP."""

from __future__ import annotations

import os

import numpy as np

from farmannot.predict.scene import PredictionReport, predict_scene


def predict_classes(clip_checkpoint: str | os.PathLike, scene: str | os.PathLike, output: str | os.PathLike,
                    class_names: list[str], *, patch: int = 448, overlap: int = 64, batch_size: int = 4,
                    device: str = "cpu", quick_gelu: bool = False, progress: bool = True,
                    sensor: str | None = None, bands: dict[str, int] | None = None) -> PredictionReport:
    """Write ``output``: one probability band per class name (softmax over the classes) and a 1-based
    ``class`` band, from the scene's display bands with the scene-wide stretch, CLIP-normalised.

    ``sensor`` and ``bands`` pick the display bands and the stretch is made as for a ``display`` run
    (:func:`farmannot.train.scene_input.display_input`).
    The CLIP is read from ``clip_checkpoint`` (weights only) and used frozen; see
    :mod:`farmannot.train.models.open_vocab` for the method.
    """
    import torch
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    from farmannot.io.raster import open_raster
    from farmannot.train.models.open_vocab import OpenVocabularySegmenter, load_clip
    from farmannot.train.scene_input import display_input

    dev = torch.device(device)
    model = OpenVocabularySegmenter(load_clip(clip_checkpoint, quick_gelu), class_names).to(dev)
    with open_raster(scene) as src:
        picked, stretch, _ = display_input(src, str(scene), sensor=sensor, bands=bands)
    mean = np.asarray(OPENAI_DATASET_MEAN, np.float32)[:, None, None]
    std = np.asarray(OPENAI_DATASET_STD, np.float32)[:, None, None]

    def normalise(x: np.ndarray, valid: np.ndarray) -> np.ndarray:  # nodata as the stretch maps it, as before
        return (stretch.apply(x).astype(np.float32) / 255.0 - mean) / std

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x)).to(dev)).float().cpu().numpy()

    return predict_scene(scene, output, predict, class_names, band_indexes=picked, normalise=normalise, patch=patch,
                         overlap=overlap, batch_size=batch_size, progress=progress, classify="argmax")
