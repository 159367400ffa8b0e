"""How pixels become model input: one object, saved with a run, used by training, evaluation and prediction.

A :class:`Preprocess` says which picture the model sees and how it is normalised:

- ``bands="display"``: the scene's red, green and blue (from the band map; else bands 1-3; one band as gray),
  stretched to 8 bits with one 2-98 % stretch of the whole scene, nodata pixels 0. This is the picture
  ``build-dataset`` writes as each tile's PNG, so the training tiles already hold it.
- ``bands="stored"``: the first ``channels`` bands as stored, NaN as 0 (tiles that are not 3-band pictures).

Then ``(picture - mean) / std`` per channel; a DEM is encoded relative to its patch mean over ``dem_scale``.

The object is written into the run's ``config.json`` (and so into every checkpoint's config) under
``preprocess``. Runs written before it hold only ``stats``: :meth:`Preprocess.from_config` reads those with the
rule every earlier ``predict`` applied (3 channels: ``display``, else ``stored``), so old runs predict as before.

Bound to one scene (its bands and stretch, for ``predict``) by
:func:`farmannot.train.scene_input.bind_scene`, it is a :class:`farmannot.train.scene_input.ScenePreprocess`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from farmannot.errors import InputError

KEY = "preprocess"
DISPLAY = "display"
STORED = "stored"
BandRule = Literal["display", "stored"]
#: Value of a nodata pixel in the picture, before normalising (the dataset's PNG tiles hold 0 there).
NODATA_FILL = 0.0


@dataclass(frozen=True)
class Preprocess:
    """The input side of a trained run.

    Attributes:
        bands: ``display`` (scene-stretched red, green, blue) or ``stored`` (the first ``channels`` bands).
        mean, std: per-channel statistics of the training pictures (their stored value range).
        dem_scale: the DEM relief scale in metres (relative elevation is divided by it).
        percentiles: low and high percentile of the scene stretch (``display`` only).
    """

    bands: BandRule
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dem_scale: float = 1.0
    percentiles: tuple[float, float] = (2.0, 98.0)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def apply(self, picture: np.ndarray) -> np.ndarray:
        """``(C, H, W)`` picture values -> ``(C, H, W)`` float32 model input.

        Raises:
            InputError: the picture's channel count is not the model's.
        """
        if picture.shape[0] != self.channels:
            raise InputError(f"image has {picture.shape[0]} band(s), the model was trained on {self.channels}.")
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        return np.ascontiguousarray((picture.astype(np.float32, copy=False) - mean) / std, dtype=np.float32)

    def tile(self, image: np.ndarray) -> np.ndarray:
        """A dataset tile as :func:`farmannot.train.data.read_image` returns it (``H x W x C``) -> model input."""
        return self.apply(np.moveaxis(image, -1, 0))

    def dem(self, dem: np.ndarray) -> np.ndarray:
        """DEM ``H x W`` (NaN nodata) -> ``2 x H x W``: elevation relative to the mean over ``dem_scale``, valid flag."""
        ok = np.isfinite(dem)
        rel = np.zeros(dem.shape, np.float32)
        if ok.any():
            rel[ok] = (dem[ok] - dem[ok].mean()) / self.dem_scale
        return np.stack([rel, ok.astype(np.float32)])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"], d["percentiles"] = list(self.mean), list(self.std), list(self.percentiles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(bands=d["bands"], mean=tuple(float(v) for v in d["mean"]),
                   std=tuple(float(v) for v in d["std"]), dem_scale=float(d.get("dem_scale", 1.0)),
                   percentiles=tuple(float(v) for v in d.get("percentiles", (2.0, 98.0))))

    @classmethod
    def from_stats(cls, stats: dict) -> Preprocess:
        """From normalisation statistics (``mean``, ``std``, ``dem_scale``): 3 channels are ``display``."""
        bands: BandRule = DISPLAY if len(stats["mean"]) == 3 else STORED
        return cls.from_dict({"bands": bands, **stats})

    @classmethod
    def from_config(cls, config: dict, source: str = "run") -> Preprocess:
        """The run's preprocessing; a run written before ``preprocess`` existed falls back to its ``stats``.

        Raises:
            InputError: the config holds neither.
        """
        if KEY in config:
            return cls.from_dict(config[KEY])
        if "stats" in config:
            return cls.from_stats(config["stats"])
        raise InputError(f"{source}: the run records no input preprocessing ('preprocess' or 'stats' in its "
                         "config); it was not written by 'farmannot train': retrain it.")
