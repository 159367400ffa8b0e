"""Per-tile captions: the scene's keywords, the tile's own place and land-cover presence checks.

The scene's keywords come from the annotation (``farmannot.caption.keywords``; confirmed by a person in
``farmannot annotate``). Per tile, ``month`` comes from the scene's acquisition date, ``location`` from the
tile centre, and buildings / water / vegetation from :func:`farmannot.captions.suggest.presence` on the tile
(an attribute is only written after its presence is checked): a land cover the check does not find becomes
``absent``; one it finds keeps the scene's confirmed wording, or the check's pattern when the scene said
``absent``. A land cover the bands cannot show keeps the scene's value.

When no date is known (the source did not record one), the caption leaves out what depends on the month:
it is rendered with two different months and the sentences that differ are dropped, so any template works.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

import numpy as np

from farmannot.captions.render import render_captions
from farmannot.captions.schema import SURROUNDINGS, Keyword, format_location, load_vocabulary, month_id, season_of
from farmannot.captions.suggest import presence
from farmannot.errors import FarmannotError, InputError
from farmannot.io.metadata import acquisition_date

_SENTENCE = {"en": re.compile(r"(?<=[.!?])\s+"), "zh": re.compile(r"(?<=[。！？])")}


def scene_keywords(farmannot_data: Mapping, source: str) -> dict[str, str]:
    """``{key: value id}`` of the scene's caption keywords stored in an annotation."""
    kws = ((farmannot_data or {}).get("caption") or {}).get("keywords") or {}
    vocab = load_vocabulary()
    out = {}
    try:
        for k, v in kws.items():
            out[k] = Keyword.from_dict(v, f"keyword {k}").value
            if k in vocab.keywords:  # a confirmed value outside the vocabulary is never silently replaced
                vocab.check(k, out[k])
    except FarmannotError as exc:
        raise InputError(f"{source}: keyword {k}: {exc} Fix it in `farmannot annotate` or with "
                         f"`farmannot caption --set {k}=VALUE --write`.") from None
    return out


def scene_date(override: str | None, annotation_date: str | None, tags: Mapping[str, str],
               filename: str) -> dt.date | None:
    """Shooting date: scenes.csv, then the annotation's ``farmannot.scene.date``, then tags / product name."""
    found = acquisition_date(tags, filename, None, override or annotation_date or None)
    return found.date if found else None


def tile_presence(bands: Mapping[str, np.ndarray], farmland: np.ndarray, pixel_size_m: float,
                  nir_factor: float | None = None) -> dict[str, str]:
    """``{cover: value}`` for the land covers the tile's bands can show (``absent`` or a pattern id).

    ``nir_factor``: the scene's soil-line NIR factor (NIR without a reflectance scale; see
    :func:`farmannot.captions.annotation.scene_nir_factor`), used instead of each tile's own soil line.
    """
    if not bands:
        return {}
    return {k: kw.value for k, kw in presence(bands, farmland, None, pixel_size_m, nir_factor=nir_factor).items()}


def tile_keywords(scene_kw: Mapping[str, str], when: dt.date | None, checks: Mapping[str, str], *,
                  lon: float | None = None, lat: float | None = None) -> dict[str, str]:
    """The tile's keyword values: scene values with month, location and checked surroundings replaced."""
    kw = dict(scene_kw)
    if when is not None:
        kw["month"] = month_id(when.month)
    if lat is not None and lon is not None:
        kw["location"] = format_location(lon=lon, lat=lat, lang="en")
    for cover in SURROUNDINGS:
        found = checks.get(cover)
        if found is None:
            continue
        if found == "absent" or kw.get(cover, "absent") == "absent":
            kw[cover] = found
    return kw


def _render(kw: Mapping[str, str], source: str, family: str = "farmseg") -> dict[str, str]:
    try:
        return render_captions(kw, family)
    except FarmannotError as exc:
        hint = ""
        if "location" in str(exc) and not kw.get("location"):
            hint = (" The location comes from the scene's georeferencing: this scene has no CRS, so give lat and "
                    "lon in scenes.csv (or georeference the scene).")
        raise InputError(f"{source}: {exc}; confirm the scene's caption keywords in `farmannot annotate` "
                         f"or with `farmannot caption`.{hint}") from None


def tile_captions(kw: Mapping[str, str], source: str, family: str = "farmseg") -> dict[str, str]:
    """English and Chinese captions of a template family; month-dependent sentences dropped when the month
    is unknown."""
    if kw.get("month") or family != "farmseg":
        return _render(kw, source, family)
    a = _render({**kw, "month": "january"}, source)
    b = _render({**kw, "month": "july"}, source)
    out = {}
    for lang in a:
        sa, sb = _SENTENCE[lang].split(a[lang]), _SENTENCE[lang].split(b[lang])
        keep = [x for x, y in zip(sa, sb) if x == y] if len(sa) == len(sb) else []
        out[lang] = (" " if lang == "en" else "").join(s for s in keep if s)
    return out


def season(when: dt.date | None, lat: float | None) -> str | None:
    """Meteorological season of the shooting date at the tile's latitude (None without a date)."""
    if when is None:
        return None
    return season_of(when.month, lat if lat is not None else 0.0)
