"""The caption keyword schema: keywords, their controlled vocabulary (EN + ZH), seasons and locations.

The vocabulary lives in ``templates/keywords.yaml`` (read with ``yaml.safe_load``); this module validates it
and answers questions about it. A keyword's *value* is a vocabulary id (``"blocky"``), except for free
keywords (``location``) whose value is text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from farmannot.errors import FarmannotError
from farmannot.resources import load_yaml, template_path

Lang = Literal["en", "zh"]
Source = Literal["auto", "suggested", "confirmed"]
LANGS: tuple[str, ...] = ("en", "zh")
SOURCES: tuple[str, ...] = ("auto", "suggested", "confirmed")
#: The 11 keywords of FarmSeg-VL, in caption order.
FARMSEG_KEYWORDS: tuple[str, ...] = (
    "shape", "boundary", "month", "sowing", "distribution", "location", "terrain", "landscape",
    "buildings", "water", "vegetation",
)
SURROUNDINGS: tuple[str, ...] = ("buildings", "water", "vegetation")
MONTHS: tuple[str, ...] = ("january", "february", "march", "april", "may", "june", "july", "august",
                           "september", "october", "november", "december")


@dataclass
class Keyword:
    """One keyword's value with where it came from.

    Attributes:
        value: A vocabulary id (or text for free keywords such as ``location``).
        source: ``auto`` (read from the scene), ``suggested`` (computed, to be confirmed) or ``confirmed``.
        evidence: The numbers the value came from (JSON-serialisable).
        confidence: In [0, 1]; 1 for confirmed and exact auto values.
    """

    value: str
    source: Source = "suggested"
    evidence: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "evidence": self.evidence,
                "confidence": round(float(self.confidence), 3)}

    @classmethod
    def from_dict(cls, d: Any, where: str = "keyword") -> Keyword:
        if isinstance(d, str):
            return cls(value=d, source="confirmed")
        if not isinstance(d, dict) or not isinstance(d.get("value"), str):
            raise FarmannotError(f"{where}: expected an object with a text 'value', got {d!r}.")
        source = d.get("source", "confirmed")
        if source not in SOURCES:
            raise FarmannotError(f"{where}: source {source!r} is not one of {', '.join(SOURCES)}.")
        return cls(value=d["value"], source=source, evidence=dict(d.get("evidence") or {}),
                   confidence=float(d.get("confidence", 1.0)))


@dataclass(frozen=True)
class Vocabulary:
    """The parsed keyword vocabulary."""

    keywords: dict[str, dict[str, Any]]
    seasons_north: dict[int, str]
    season_words: dict[str, dict[str, str]]
    families: dict[str, tuple[str, ...]]

    def values(self, key: str) -> dict[str, dict[str, str]]:
        """``{id: {"en": ..., "zh": ...}}`` of a keyword (empty for free keywords)."""
        return self.keywords[self._known(key)].get("values") or {}

    def is_free(self, key: str) -> bool:
        return bool(self.keywords[self._known(key)].get("free"))

    def word(self, key: str, value: str, lang: Lang) -> str:
        """The wording of ``value`` in ``lang`` (free keywords: the value itself)."""
        if self.is_free(key):
            return value
        return self.values(key)[value][lang]

    def check(self, key: str, value: str) -> None:
        """Raise :class:`FarmannotError` unless ``value`` is allowed for ``key``."""
        if self.is_free(key):
            if key == "location":
                parse_location(value)
            return
        if value not in self.values(key):
            raise FarmannotError(
                f"{value!r} is not a {key} value; choose one of {', '.join(self.values(key))} "
                "(farmannot caption --vocab lists them)."
            )

    def family(self, name: str) -> tuple[str, ...]:
        if name not in self.families:
            raise FarmannotError(f"unknown caption family {name!r}; choose one of {', '.join(self.families)}.")
        return self.families[name]

    def _known(self, key: str) -> str:
        if key not in self.keywords:
            raise FarmannotError(f"unknown keyword {key!r}; keywords are {', '.join(self.keywords)}.")
        return key


def load_vocabulary() -> Vocabulary:
    """Read and validate ``templates/keywords.yaml`` of the templates folder in use (validated once per file:
    every caption asks)."""
    return _vocabulary_of(template_path("keywords.yaml"))


@functools.lru_cache(maxsize=None)
def _vocabulary_of(path: str) -> Vocabulary:
    return _vocabulary(load_yaml(path))


def _vocabulary(raw: Any) -> Vocabulary:
    where = "templates/keywords.yaml"
    if not isinstance(raw, dict) or not isinstance(raw.get("keywords"), dict):
        raise FarmannotError(f"{where}: needs a 'keywords' mapping.")
    kws = raw["keywords"]
    missing = [k for k in FARMSEG_KEYWORDS if k not in kws]
    if missing:
        raise FarmannotError(f"{where}: keywords {missing} missing; the 11 FarmSeg-VL keywords are required.")
    for key, spec in kws.items():
        if spec.get("free"):
            continue
        vals = spec.get("values")
        if not isinstance(vals, dict) or not vals:
            raise FarmannotError(f"{where}: keyword {key!r} has no values.")
        for vid, words in vals.items():
            if not isinstance(words, dict) or any(not words.get(lang) for lang in LANGS):
                raise FarmannotError(f"{where}: {key}.{vid} needs both an 'en' and a 'zh' wording.")
        if key in SURROUNDINGS and "absent" not in vals:
            raise FarmannotError(f"{where}: surrounding land cover {key!r} needs the value 'absent'.")
    north: dict[int, str] = {}
    for season, months in raw["seasons"]["north"].items():
        for m in months:
            north[int(m)] = season
    if sorted(north) != list(range(1, 13)):
        raise FarmannotError(f"{where}: seasons.north must assign each month 1..12 exactly once.")
    fams = {name: tuple(keys) for name, keys in raw.get("families", {}).items()}
    for name, keys in fams.items():
        unknown = [k for k in keys if k not in kws]
        if unknown:
            raise FarmannotError(f"{where}: family {name!r} uses unknown keywords {unknown}.")
    return Vocabulary(keywords=kws, seasons_north=north, season_words=raw["seasons"]["words"], families=fams)


# ------------------------------------------------------------------------------------- time and place
def month_id(month: int) -> str:
    """Vocabulary id of a month number 1..12."""
    if not 1 <= int(month) <= 12:
        raise FarmannotError(f"month must be 1..12, got {month}.")
    return MONTHS[int(month) - 1]


def season_of(month: int | str, latitude: float) -> str:
    """Meteorological season of ``month`` (number or id) at ``latitude`` (southern hemisphere shifted 6 months).

    >>> season_of(5, -25.3), season_of(5, 40.0)
    ('autumn', 'spring')
    """
    m = MONTHS.index(month) + 1 if isinstance(month, str) else int(month)
    if latitude < 0:
        m = (m + 5) % 12 + 1
    return load_vocabulary().seasons_north[m]


def format_location(*, lon: float, lat: float, lang: Lang = "en", decimals: int = 2) -> str:
    """``'25.34°S, 54.53°W'`` (en) or ``'南纬25.34°，西经54.53°'`` (zh): the text puts latitude first, the
    arguments are named so that no caller can swap them (the project's order is ``(lon, lat)``)."""
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    la, lo = f"{abs(lat):.{decimals}f}", f"{abs(lon):.{decimals}f}"
    if lang == "zh":
        return f"{'北纬' if ns == 'N' else '南纬'}{la}°，{'东经' if ew == 'E' else '西经'}{lo}°"
    return f"{la}°{ns}, {lo}°{ew}"


_LOC_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*°?\s*([NS])\s*[,;，]?\s*(\d+(?:\.\d+)?)\s*°?\s*([EW])\s*$", re.I)


def parse_location(text: str) -> tuple[float, float]:
    """``'25.34°S, 54.53°W'`` -> ``(lon, lat)`` = ``(-54.53, -25.34)``, the project's one order (as
    ``farmannot.io.metadata.centre_lonlat``); raises :class:`FarmannotError` on anything else."""
    m = _LOC_RE.match(text or "")
    if not m:
        raise FarmannotError(f"location {text!r} must look like '25.34°S, 54.53°W' (latitude first).")
    lat = float(m.group(1)) * (1 if m.group(2).upper() == "N" else -1)
    lon = float(m.group(3)) * (1 if m.group(4).upper() == "E" else -1)
    if abs(lat) > 90 or abs(lon) > 180:
        raise FarmannotError(f"location {text!r} is out of range (|lat| <= 90, |lon| <= 180).")
    return lon, lat
