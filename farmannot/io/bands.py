"""Band presets for real sensors and the logic that decides which band is red, green, NIR, SWIR...

A *band map* is ``{'red': 3, 'nir': 4, ...}`` with 1-based band numbers as GDAL and rasterio count them.
It comes, in order of precedence, from ``--bands``, a ``--sensor`` preset, the file's band descriptions, the
product name in the file name (a Landsat 8/9 OLI product id ``LC08_...`` / ``LC09_...``: band stacks as
USGS products are usually stacked, see :data:`LANDSAT_OLI_STACKS`), or (for 3- and 4-band images) the generic
RGB / RGBN convention.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from farmannot.errors import FarmannotError

# Canonical band names used everywhere in farmannot.
CANONICAL = ("coastal", "blue", "green", "yellow", "red", "rededge", "rededge1", "rededge2", "rededge3",
             "nir", "nir08", "watervapour", "swir1", "swir2")


@dataclass(frozen=True)
class SensorPreset:
    """The band order of a product as distributed, and its reflectance scaling.

    ``reflectance = DN * scale + offset`` where the product defines it (``scale=None``: no scaling,
    indices are computed on the stored values).
    """

    name: str
    bands: tuple[str, ...]
    scale: float | None = None
    offset: float = 0.0
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def band_map(self) -> dict[str, int]:
        return {b: i + 1 for i, b in enumerate(self.bands)}


SENSOR_PRESETS: dict[str, SensorPreset] = {
    p.name: p
    for p in (
        # Sentinel-2 L2A as a 12-band stack B1..B12 without B10; processing baseline >= 04.00 adds
        # BOA_ADD_OFFSET = -1000 DN, i.e. -0.1 in reflectance.
        SensorPreset("sentinel2-l2a",
                     ("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir",
                      "nir08", "watervapour", "swir1", "swir2"),
                     scale=1e-4, offset=-0.1,
                     description="Sentinel-2 L2A stack B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B11,B12"),
        # Landsat 8/9 Collection 2 Level-2 surface reflectance SR_B1..SR_B7 (scale/offset from the MTL).
        SensorPreset("landsat8-c2l2",
                     ("coastal", "blue", "green", "red", "nir", "swir1", "swir2"),
                     scale=2.75e-5, offset=-0.2,
                     description="Landsat 8 Collection 2 L2 SR_B1..SR_B7"),
        SensorPreset("landsat9-c2l2",
                     ("coastal", "blue", "green", "red", "nir", "swir1", "swir2"),
                     scale=2.75e-5, offset=-0.2,
                     description="Landsat 9 Collection 2 L2 SR_B1..SR_B7"),
        SensorPreset("gaofen2-pms", ("blue", "green", "red", "nir"),
                     description="Gaofen-2 PMS multispectral B1..B4 (DN)"),
        SensorPreset("naip", ("red", "green", "blue", "nir"), description="NAIP 4-band R,G,B,NIR"),
        SensorPreset("planetscope-4", ("blue", "green", "red", "nir"), scale=1e-4,
                     description="PlanetScope 4-band surface reflectance B,G,R,NIR"),
        SensorPreset("planetscope-8",
                     ("coastal", "blue", "green", "green", "yellow", "red", "rededge", "nir"),
                     scale=1e-4,
                     description="PlanetScope 8-band SR: coastal blue, blue, green I, green, yellow, red, "
                                 "red edge, NIR"),
        SensorPreset("rgb", ("red", "green", "blue"), description="generic 3-band R,G,B"),
        SensorPreset("rgbn", ("red", "green", "blue", "nir"), description="generic 4-band R,G,B,NIR"),
        SensorPreset("bgrn", ("blue", "green", "red", "nir"), description="generic 4-band B,G,R,NIR"),
    )
}

# Words in band descriptions that name a band; longest, most specific patterns first.
_DESCRIPTION_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bcoastal\b|\bb0?1\b(?!\d)|aerosol", "coastal"),
    (r"swir[\s_-]*2|\bb12\b|sr_b7|\bb7\b.*swir", "swir2"),
    (r"swir[\s_-]*1|swir|\bb11\b|sr_b6", "swir1"),
    (r"red[\s_-]*edge|rededge|\bre\d?\b|\bb0?[567]\b", "rededge"),
    (r"\bnir\b|near[\s_-]*infra|b0?8a?\b|sr_b5", "nir"),
    (r"\bred\b|\bb0?4\b|sr_b4", "red"),
    (r"\bgreen\b|\bb0?3\b|sr_b3", "green"),
    (r"\bblue\b|\bb0?2\b|sr_b2", "blue"),
)


#: Landsat 8/9 OLI band stacks by band count: B2-B4, B2-B5, B2-B7, B1-B7 (the 30 m reflective bands).
LANDSAT_OLI_STACKS: dict[int, tuple[str, ...]] = {
    3: ("blue", "green", "red"),
    4: ("blue", "green", "red", "nir"),
    6: ("blue", "green", "red", "nir", "swir1", "swir2"),
    7: ("coastal", "blue", "green", "red", "nir", "swir1", "swir2"),
}
_LANDSAT_OLI_NAME = re.compile(r"(?:^|[^A-Z0-9])L[CO]0[89]_?(?:L[12]|[0-9]{6})", re.IGNORECASE)


def bands_from_product_name(name: str, count: int) -> tuple[dict[str, int], str] | None:
    """Band map of a stacked Landsat 8/9 OLI product recognised by its file name (``LC08_L1TP_...``), or None.

    Only the stacks of :data:`LANDSAT_OLI_STACKS` are known; any other band count gives None.
    """
    base = re.split(r"[\\/]", name)[-1]
    if not _LANDSAT_OLI_NAME.search(base) or count not in LANDSAT_OLI_STACKS:
        return None
    order = LANDSAT_OLI_STACKS[count]
    return {b: i + 1 for i, b in enumerate(order)}, f"Landsat 8/9 OLI product name ({count}-band stack)"


def bands_from_descriptions(descriptions: Sequence[str | None]) -> dict[str, int] | None:
    """Band map from band descriptions (``'Red'``, ``'B08'``, ``'SR_B5'`` ...), or None if they say nothing.

    Only descriptions that name a band unambiguously are used; a name found twice keeps its first band.
    """
    out: dict[str, int] = {}
    for i, desc in enumerate(descriptions, start=1):
        if not desc:
            continue
        text = desc.strip().lower()
        for pattern, name in _DESCRIPTION_PATTERNS:
            if re.search(pattern, text):
                out.setdefault(name, i)
                break
    return out or None


def resolve_band_map(
    count: int,
    descriptions: Sequence[str | None] = (),
    sensor: str | None = None,
    bands: dict[str, int] | None = None,
    source: str = "",
) -> tuple[dict[str, int], str]:
    """Decide the band map of a raster with ``count`` bands.

    Returns:
        ``(band_map, how)`` where ``how`` says where the map came from (for reports and logs).

    ``source`` is the file's path: it names the file in messages, and its name may identify the product.

    Raises:
        FarmannotError: a band number beyond ``count`` or an unknown sensor name.
    """
    where = f"{source}: " if source else ""
    if bands:
        bad = {k: v for k, v in bands.items() if v > count}
        if bad:
            raise FarmannotError(
                f"{where}--bands names band(s) {bad} but the raster has only {count} band(s); "
                f"fix the band numbers (1..{count}).")
        return dict(bands), "--bands"
    if sensor:
        preset = SENSOR_PRESETS.get(sensor)
        if preset is None:
            raise FarmannotError(f"unknown sensor {sensor!r}; choose one of {', '.join(sorted(SENSOR_PRESETS))}.")
        bmap = {k: v for k, v in preset.band_map().items() if v <= count}
        if len(bmap) < len(set(preset.bands)):
            raise FarmannotError(
                f"{where}sensor {sensor} expects {len(preset.bands)} bands but the raster has {count}; "
                f"give --bands instead.")
        return bmap, f"sensor {sensor}"
    found = bands_from_descriptions(descriptions)
    if found:
        return found, "band descriptions"
    named = bands_from_product_name(source, count) if source else None
    if named:
        return named
    if count == 3:
        return SENSOR_PRESETS["rgb"].band_map(), "generic RGB (3 bands)"
    if count == 4:
        return SENSOR_PRESETS["rgbn"].band_map(), "generic RGBN (4 bands)"
    if count == 1:
        return {"gray": 1}, "single band"
    raise FarmannotError(
        f"{where}cannot tell which of the {count} bands is red, green, NIR...; "
        f"give --sensor ({', '.join(sorted(SENSOR_PRESETS))}) or --bands red=N,nir=N,...")


def display_bands(count: int, band_map: dict[str, int] | None) -> list[int]:
    """The bands a scene is shown (and tiled, and fed to SAM and the models) in true colour: red, green, blue
    from the band map; else the first three; one band as gray. The one rule for the annotator's picture,
    build-dataset's RGB tiles, SAM chips and a run's ``display`` input."""
    if band_map and all(k in band_map for k in ("red", "green", "blue")):
        return [band_map["red"], band_map["green"], band_map["blue"]]
    return [1, 2, 3] if count >= 3 else [1, 1, 1]
