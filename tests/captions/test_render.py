"""Keyword vocabulary, seasons, locations and caption rendering (both languages, both families)."""

from __future__ import annotations

import shutil

import pytest

from farmannot.captions.render import render_caption, render_captions
from farmannot.captions.schema import (
    FARMSEG_KEYWORDS,
    Keyword,
    format_location,
    load_vocabulary,
    parse_location,
    season_of,
)
from farmannot.errors import FarmannotError
from farmannot.resources import templates_dir

BASE = {
    "shape": "blocky", "boundary": "straight", "month": "may", "sowing": "partially_covered",
    "distribution": "concentrated_contiguous", "location": "25.34°S, 54.53°W", "terrain": "flat",
    "landscape": "plain", "buildings": "scattered", "water": "scattered_ponds",
    "vegetation": "scattered_trees_and_forests", "layout": "contour_tiers",
}


def test_vocabulary_has_the_11_keywords_with_both_languages():
    vocab = load_vocabulary()
    assert vocab.family("farmseg") == FARMSEG_KEYWORDS and len(FARMSEG_KEYWORDS) == 11
    for key in ("buildings", "water", "vegetation"):
        assert "absent" in vocab.values(key)
    assert vocab.word("water", "scattered_ponds", "en") == "scattered blocky ponds"  # the paper's phrase


@pytest.mark.parametrize("month, lat, season", [
    (5, -25.3, "autumn"), (5, 40.0, "spring"), (1, -30.0, "summer"), (1, 30.0, "winter"),
    (12, 45.0, "winter"), (7, -10.0, "winter"), (9, 50.0, "autumn"), ("october", -33.9, "spring"),
])
def test_season_by_hemisphere(month, lat, season):
    assert season_of(month, lat) == season


def test_hemispheres_are_opposite_every_month():
    opposite = {"spring": "autumn", "autumn": "spring", "summer": "winter", "winter": "summer"}
    for m in range(1, 13):
        assert season_of(m, -1.0) == opposite[season_of(m, 1.0)]


def test_location_round_trip_and_languages():
    assert format_location(lon=-54.5364, lat=-25.3401) == "25.34°S, 54.54°W"
    assert format_location(lon=105.69, lat=40.34, lang="zh") == "北纬40.34°，东经105.69°"
    assert parse_location("25.34°S, 54.54°W") == (-54.54, -25.34)  # (lon, lat), the project's one order
    assert parse_location("40.3 N 105.7 E") == (105.7, 40.3)
    for bad in ("54.5°W, 25.3°S", "95°N, 10°E", "somewhere"):
        with pytest.raises(FarmannotError):
            parse_location(bad)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("family", ["farmseg", "terraced"])
def test_every_vocabulary_value_reaches_the_caption(lang, family):
    vocab = load_vocabulary()
    for key in vocab.family(family):
        if vocab.is_free(key):
            continue
        for vid, words in vocab.values(key).items():
            text = render_caption({**BASE, key: vid}, lang, family)
            if vid == "absent":
                continue  # checked below: absent land covers get their own sentence
            assert words[lang] in text, (key, vid, text)
            assert "{" not in text and "None" not in text


@pytest.mark.parametrize("family", ["farmseg", "terraced"])
def test_absent_surroundings_say_none_in_both_languages(family):
    kws = {**BASE, "buildings": "absent", "water": "absent", "vegetation": "absent"}
    en, zh = render_caption(kws, "en", family), render_caption(kws, "zh", family)
    if family == "farmseg":
        assert "There are no buildings around the farmland." in en
        assert "There are no water bodies around the farmland." in en
        assert "耕地周围无建筑。" in zh and "耕地周围无水体。" in zh
    else:
        assert "No buildings adjoin the terraces." in en and "梯田周边无建筑。" in zh
    for words in ("scattered blocky ponds", "scattered buildings"):
        assert words not in en
    # present again: the sentence names the pattern
    assert "scattered blocky ponds" in render_caption({**kws, "water": "scattered_ponds"}, "en", family)


def test_farmseg_caption_reads_as_expected():
    en = render_caption(BASE, "en")
    assert en.startswith("This remote sensing image was taken in May (autumn). It is located at 25.34°S, 54.53°W.")
    assert "The farmland primarily exhibits concentrated contiguous distribution" in en
    zh = render_caption(BASE, "zh")
    assert zh.startswith("该遥感影像拍摄于5月（秋季）。影像位于南纬25.34°，西经54.53°。")
    assert " " not in zh
    # same keywords in the northern hemisphere: spring
    assert "(spring)" in render_caption({**BASE, "location": "25.34°N, 54.53°W"}, "en")


# The phrases the FarmSeg-VL paper quotes from its captions (section 2, the Northeast China Plain and
# the surrounding-environment examples), word for word.
PAPER_PHRASES = [
    "the farmland primarily exhibits concentrated contiguous distribution",
    "the shape of the farmland is characterized by blocky",
    "the terrain is undulating",
    "the water bodies surrounding the farmland mainly consist of scattered blocky ponds",
    "the vegetation around the farmland mainly consists of scattered trees and scattered forests",
]


def test_farmseg_caption_holds_every_phrase_the_paper_quotes():
    en = render_caption({**BASE, "terrain": "undulating"}, "en").lower()
    missing = [p for p in PAPER_PHRASES if p not in en]
    assert not missing, f"{missing} not in {en!r}"


def test_keyword_objects_and_dicts_render_like_strings():
    objs = {k: Keyword(v, "confirmed") for k, v in BASE.items()}
    dicts = {k: {"value": v, "source": "suggested"} for k, v in BASE.items()}
    assert render_caption(objs, "en") == render_caption(BASE, "en") == render_caption(dicts, "en")
    assert set(render_captions(BASE)) == {"en", "zh"}


def test_missing_and_invalid_keywords_are_all_listed():
    kws = {k: v for k, v in BASE.items() if k not in ("month", "water")}
    kws["shape"] = "round"
    with pytest.raises(FarmannotError) as exc:
        render_caption(kws, "en")
    msg = str(exc.value)
    assert "month" in msg and "water" in msg and "'round' is not a shape value" in msg
    with pytest.raises(FarmannotError, match="missing keyword"):
        render_caption({**BASE, "terrain": ""}, "zh")
    with pytest.raises(FarmannotError, match="language"):
        render_caption(BASE, "fr")
    with pytest.raises(FarmannotError, match="family"):
        render_caption(BASE, "en", "vineyard")


def test_strict_undefined_in_an_edited_template(tmp_path, monkeypatch):
    shutil.copytree(templates_dir(), tmp_path / "templates")
    (tmp_path / "templates" / "captions" / "farmseg.en.j2").write_text(
        "Farmland near {{ kw.road }}.", encoding="utf-8")
    monkeypatch.setenv("FARMANNOT_TEMPLATES", str(tmp_path / "templates"))
    with pytest.raises(FarmannotError, match="farmseg.en.j2.*not supplied"):
        render_caption(BASE, "en")
    # the Chinese template there is untouched and still renders
    assert render_caption(BASE, "zh").startswith("该遥感影像")


def test_vocabulary_follows_the_templates_folder(tmp_path, monkeypatch):
    """The vocabulary is validated once per parsed keywords.yaml: another folder's file gives its own wording
    (and its own errors), the default folder its wording again."""
    shipped = load_vocabulary()
    edited = (templates_dir() / "keywords.yaml").read_text(encoding="utf-8").replace(
        "scattered blocky ponds", "ponds here and there")
    assert "ponds here and there" in edited
    shutil.copytree(templates_dir(), tmp_path / "templates")
    (tmp_path / "templates" / "keywords.yaml").write_text(edited, encoding="utf-8")
    monkeypatch.setenv("FARMANNOT_TEMPLATES", str(tmp_path / "templates"))
    assert load_vocabulary().word("water", "scattered_ponds", "en") == "ponds here and there"
    assert "ponds here and there" in render_caption(BASE, "en")
    shutil.copytree(templates_dir(), tmp_path / "broken")
    (tmp_path / "broken" / "keywords.yaml").write_text("keywords: {shape: {values: {}}}\n", encoding="utf-8")
    monkeypatch.setenv("FARMANNOT_TEMPLATES", str(tmp_path / "broken"))
    for _ in range(2):  # a file that fails is not remembered as a vocabulary
        with pytest.raises(FarmannotError, match="keywords.yaml"):
            load_vocabulary()
    monkeypatch.delenv("FARMANNOT_TEMPLATES")
    assert load_vocabulary() == shipped
    assert shipped.word("water", "scattered_ponds", "en") == "scattered blocky ponds"
