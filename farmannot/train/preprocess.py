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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from farmannot.errors import InputError
from farmannot.io.stretch import Stretch

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

    def for_scene(self, src, name: str | None = None, *, sensor: str | None = None,
                  bands: dict[str, int] | None = None) -> ScenePreprocess:
        """The scene-bound side: which bands of the open raster ``src`` to read, and its stretch.

        ``sensor`` and ``bands`` (a band map, 1-based) decide which bands are red, green and blue through
        :func:`farmannot.io.raster.scene_info`, as ``build-dataset``'s per-scene ``sensor`` does; give what
        the scene was built with, or the model sees other pixels than its tiles held. A ``stored`` model reads
        the first ``channels`` bands whatever the band map says.

        Raises:
            InputError: a ``stored`` model needs more bands than the scene has.
            FarmannotError: ``bands`` names a band the scene lacks, ``sensor`` does not fit it, or nothing says
                which of its bands are red, green and blue.
        """
        from farmannot.io.bands import display_bands
        from farmannot.io.raster import scene_info
        from farmannot.io.stretch import scene_stretch

        name = name or str(src.name)
        if self.bands == DISPLAY:
            info = scene_info(src, sensor=sensor, bands=bands)
            picked = display_bands(src.count, info.band_map)
            note = None
            if len(set(picked)) == 1:
                note = (f"{name}: {src.count} band(s) and no red, green, blue; band {picked[0]} goes to the model "
                        f"as gray in all three channels, as build-dataset tiles such a scene.")
            elif info.band_map_source.startswith("generic") and src.count > 3:  # R,G,B,N or B,G,R,N? a guess
                note = (f"{name}: red, green, blue read as bands {','.join(map(str, picked))}, a guess from the "
                        f"band count ({src.count} bands, no band descriptions); if the dataset was built with a "
                        f"sensor for this scene, give the same --sensor or --bands.")
            return ScenePreprocess(self, tuple(picked), scene_stretch(src, picked, percentiles=self.percentiles),
                                   note)
        if self.channels > src.count:
            raise InputError(f"{name}: the model needs {self.channels} band(s), the scene has {src.count}; give "
                             f"a scene with the bands the model was trained on.")
        return ScenePreprocess(self, tuple(range(1, self.channels + 1)), None)


@dataclass(frozen=True)
class ScenePreprocess:
    """A :class:`Preprocess` bound to one scene: its input bands (1-based) and its stretch (``display``)."""

    preprocess: Preprocess
    band_indexes: tuple[int, ...]
    stretch: Stretch | None
    note: str | None = None  # how a scene unlike the training scenes is handled (one line for the user)

    def picture(self, data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Raw ``(C, H, W)`` values of ``band_indexes`` (float32) -> the picture the training tiles hold."""
        if self.stretch is None:
            return np.nan_to_num(data, nan=NODATA_FILL)
        return self.stretch.apply(np.nan_to_num(data, nan=NODATA_FILL), valid)

    def apply(self, data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Raw ``(C, H, W)`` values and the valid-pixel mask -> ``(C, H, W)`` float32 model input."""
        return self.preprocess.apply(self.picture(data, valid))
