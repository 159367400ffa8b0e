"""A run's :class:`~farmannot.train.preprocess.Preprocess` bound to one scene: which of its bands go to the
model and the scene-wide stretch, read once from the open raster before the patches.

``display`` runs read the scene's red, green and blue as :func:`farmannot.io.raster.scene_info` names them
(``--sensor`` / ``--bands``, as ``build-dataset`` did), through :func:`farmannot.io.bands.display_bands` (one
band as gray), with one percentile stretch of the whole scene (:func:`display_input`, also the picture of
``predict --classes``); ``stored`` runs read the first ``channels`` bands as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmannot.errors import InputError
from farmannot.io.stretch import Stretch
from farmannot.train.preprocess import DISPLAY, NODATA_FILL, Preprocess


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


def display_input(src, name: str | None = None, *, sensor: str | None = None, bands: dict[str, int] | None = None,
                  percentiles: tuple[float, float] = (2.0, 98.0)) -> tuple[tuple[int, ...], Stretch, str | None]:
    """The scene's red, green and blue band indexes (1-based), their scene-wide stretch, and a note for the
    user where the scene is unlike a true-colour one (one band as gray; a band order guessed from the count).

    Raises:
        FarmannotError: ``bands`` names a band the scene lacks, ``sensor`` does not fit it, or nothing says
            which of its bands are red, green and blue.
    """
    from farmannot.io.bands import display_bands
    from farmannot.io.raster import scene_info
    from farmannot.io.stretch import scene_stretch

    name = name or str(src.name)
    info = scene_info(src, sensor=sensor, bands=bands)
    picked = tuple(display_bands(src.count, info.band_map))
    note = None
    if len(set(picked)) == 1:
        note = (f"{name}: {src.count} band(s) and no red, green, blue; band {picked[0]} goes to the model "
                f"as gray in all three channels, as build-dataset tiles such a scene.")
    elif info.band_map_source.startswith("generic") and src.count > 3:  # R,G,B,N or B,G,R,N? a guess
        note = (f"{name}: red, green, blue read as bands {','.join(map(str, picked))}, a guess from the "
                f"band count ({src.count} bands, no band descriptions); if the dataset was built with a "
                f"sensor for this scene, give the same --sensor or --bands.")
    return picked, scene_stretch(src, list(picked), percentiles=percentiles), note


def bind_scene(preprocess: Preprocess, src, name: str | None = None, *, sensor: str | None = None,
               bands: dict[str, int] | None = None) -> ScenePreprocess:
    """``preprocess`` bound to the open raster ``src``: which bands to read, and its stretch.

    ``sensor`` and ``bands`` (a band map, 1-based) decide which bands are red, green and blue through
    :func:`farmannot.io.raster.scene_info`, as ``build-dataset``'s per-scene ``sensor`` does; give what
    the scene was built with, or the model sees other pixels than its tiles held. A ``stored`` model reads
    the first ``channels`` bands whatever the band map says.

    Raises:
        InputError: a ``stored`` model needs more bands than the scene has.
        FarmannotError: as :func:`display_input`.
    """
    name = name or str(src.name)
    if preprocess.bands == DISPLAY:
        picked, stretch, note = display_input(src, name, sensor=sensor, bands=bands,
                                              percentiles=preprocess.percentiles)
        return ScenePreprocess(preprocess, picked, stretch, note)
    if preprocess.channels > src.count:
        raise InputError(f"{name}: the model needs {preprocess.channels} band(s), the scene has {src.count}; give "
                         f"a scene with the bands the model was trained on.")
    return ScenePreprocess(preprocess, tuple(range(1, preprocess.channels + 1)), None)
