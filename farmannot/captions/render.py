"""Render captions from keywords with Jinja2 templates (``templates/captions/FAMILY.LANG.j2``).

Templates see ``kw.KEY`` (the keyword's wording in the caption's language), ``ids.KEY`` (the vocabulary id,
for ``absent`` tests), ``season`` (derived from month and the hemisphere of ``location``) and ``lat``/``lon``.
The environment uses ``StrictUndefined``: a template naming a keyword the family does not supply fails
loudly instead of printing a blank. Missing keywords are checked before rendering and reported together.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jinja2

from farmannot.captions.schema import LANGS, Keyword, Lang, format_location, load_vocabulary, parse_location, season_of
from farmannot.errors import FarmannotError
from farmannot.resources import templates_dir


@functools.lru_cache(maxsize=4)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def _value(v: str | Keyword | Mapping) -> str:
    if isinstance(v, Keyword):
        return v.value
    if isinstance(v, Mapping):
        return Keyword.from_dict(v).value
    return v


def missing_keywords(keywords: Mapping[str, str | Keyword], family: str = "farmseg") -> list[str]:
    """Keywords the family's template needs that ``keywords`` lacks (or holds empty)."""
    need = load_vocabulary().family(family)
    return [k for k in need if not (keywords.get(k) is not None and _value(keywords[k]))]


def validate_keywords(keywords: Mapping[str, str | Keyword], family: str = "farmseg") -> dict[str, str]:
    """Check every keyword the family needs is present and in the vocabulary.

    Returns:
        ``{key: value}`` for the family's keywords.

    Raises:
        FarmannotError: listing every missing keyword and every invalid value at once.
    """
    vocab = load_vocabulary()
    problems: list[str] = []
    missing = missing_keywords(keywords, family)
    if missing:
        problems.append(f"missing keyword(s): {', '.join(missing)}")
    values: dict[str, str] = {}
    for key in vocab.family(family):
        if key in missing:
            continue
        val = _value(keywords[key])
        try:
            vocab.check(key, val)
        except FarmannotError as exc:
            problems.append(str(exc))
        values[key] = val
    if problems:
        raise FarmannotError(f"cannot render the {family} caption: " + "; ".join(problems))
    return values


def render_caption(keywords: Mapping[str, str | Keyword], lang: Lang = "en", family: str = "farmseg") -> str:
    """Render one caption.

    Args:
        keywords: ``{key: value}`` (vocabulary ids; ``location`` as ``'25.34°S, 54.53°W'``) or ``{key: Keyword}``.
        lang: ``"en"`` or ``"zh"``.
        family: Template family: ``"farmseg"`` (FarmSeg-VL, 11 keywords) or ``"terraced"`` (GTPBD-MM style).

    Returns:
        The caption, one paragraph.

    Raises:
        FarmannotError: a missing or invalid keyword (all listed), an unknown language or family, or a template
            error (naming the template file).
    """
    if lang not in LANGS:
        raise FarmannotError(f"language {lang!r} not supported; choose one of {', '.join(LANGS)}.")
    vocab = load_vocabulary()
    values = validate_keywords(keywords, family)
    ctx: dict = {"kw": {}, "ids": dict(values)}
    for key, val in values.items():
        ctx["kw"][key] = vocab.word(key, val, lang)
    if "location" in values:
        lon, lat = parse_location(values["location"])
        ctx.update(lat=lat, lon=lon)
        ctx["kw"]["location"] = format_location(lon=lon, lat=lat, lang=lang)
        if "month" in values:
            ctx["season"] = vocab.season_words[season_of(values["month"], lat)][lang]
    name = f"{family}.{lang}.j2"
    folder = str(templates_dir() / "captions")
    try:
        text = _environment(folder).get_template(name).render(**ctx)
    except jinja2.TemplateNotFound:
        raise FarmannotError(f"{folder}/{name}: caption template missing.") from None
    except jinja2.UndefinedError as exc:
        raise FarmannotError(f"{folder}/{name}: template uses something not supplied ({exc.message}); "
                             f"the {family} family supplies {', '.join(values)}.") from None
    except jinja2.TemplateError as exc:
        raise FarmannotError(f"{folder}/{name}: template error ({exc}).") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (" " if lang == "en" else "").join(lines)


def render_captions(keywords: Mapping[str, str | Keyword], family: str = "farmseg") -> dict[str, str]:
    """``{"en": ..., "zh": ...}``."""
    return {lang: render_caption(keywords, lang, family) for lang in LANGS}
