"""labelme JSON codec: round trip over labelme's own example corpus, strict write checked by labelme 6.3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from farmannot.errors import InputError
from farmannot.io.labelme_json import (
    Annotation,
    Shape,
    decode_mask,
    encode_mask,
    load_annotation,
    project_folder,
    resolve_image_path,
    save_annotation,
)


def _annotation_jsons(shared_data: Path) -> list[Path]:
    root = shared_data / "labelme-examples"
    out = sorted(p for p in root.rglob("*.json") if "shapes" in json.loads(p.read_text(encoding="utf-8")))
    assert len(out) >= 7, "labelme example corpus incomplete"
    return out


def _norm_shape(s: dict) -> dict:
    d = dict(s)
    d.setdefault("description", None)
    d["description"] = d["description"] or ""  # labelme itself reads None as ""
    d.setdefault("mask", None)
    if d["mask"] is not None:
        d["mask"] = decode_mask(d["mask"]).tolist()
    d["points"] = [[float(x), float(y)] for x, y in d["points"]]
    return d


def test_round_trip_every_labelme_example_loses_nothing(shared_data, tmp_path):
    for src in _annotation_jsons(shared_data):
        raw = json.loads(src.read_text(encoding="utf-8"))
        ann = load_annotation(src)
        out = tmp_path / src.name
        save_annotation(ann, out)
        back = json.loads(out.read_text(encoding="utf-8"))
        assert set(raw) <= set(back), f"{src.name}: top-level keys lost"
        assert back["version"] == "6.3.1"
        for key in ("flags", "imagePath", "imageData", "imageHeight", "imageWidth"):
            assert back[key] == raw[key], (src.name, key)
        assert len(back["shapes"]) == len(raw["shapes"])
        for a, b in zip(raw["shapes"], back["shapes"]):
            assert set(a) <= set(b), f"{src.name}: shape keys lost"
            assert _norm_shape(a) == _norm_shape(b)
        # a second save gives the same bytes
        save_annotation(load_annotation(out), tmp_path / "again.json")
        assert (tmp_path / "again.json").read_bytes() == out.read_bytes()


def test_written_files_open_in_labelme_63(shared_data, tmp_path):
    from labelme._label_file import LabelFile

    for src in _annotation_jsons(shared_data):
        dst_dir = tmp_path / src.parent.parent.name
        dst_dir.mkdir(exist_ok=True)
        ann = load_annotation(src)
        ann.image_data = None  # force labelme to read the image beside the JSON
        shutil.copy(src.parent / ann.image_path, dst_dir / ann.image_path)
        ann.farmannot = {"caption": {"keywords": {"month": {"value": "May", "source": "auto"}}}}
        save_annotation(ann, dst_dir / src.name)
        lf = LabelFile(str(dst_dir / src.name))
        assert len(lf.shapes) == len(ann.shapes)
        assert lf.other_data["farmannot"]["caption"]["keywords"]["month"]["value"] == "May"
        for ours, theirs in zip(ann.shapes, lf.shapes):
            assert theirs["shape_type"] == ours.shape_type
            assert theirs["label"] == ours.label
            if ours.mask is not None:
                np.testing.assert_array_equal(theirs["mask"], ours.mask)


def test_primitives_mask_matches_labelme_decoder(shared_data):
    from labelme import utils

    src = shared_data / "labelme-examples" / "primitives" / "primitives.json"
    raw = json.loads(src.read_text(encoding="utf-8"))
    ann = load_annotation(src)
    types = {s.shape_type for s in ann.shapes}
    assert types == {"rectangle", "circle", "polygon", "line", "point", "linestrip", "mask"}
    (mask_shape,) = [s for s in ann.shapes if s.shape_type == "mask"]
    (raw_mask,) = [s["mask"] for s in raw["shapes"] if s["shape_type"] == "mask"]
    expected = utils.img_b64_to_arr(raw_mask).astype(bool)
    np.testing.assert_array_equal(mask_shape.mask, expected)
    assert 0 < mask_shape.mask.sum() < mask_shape.mask.size


def test_encode_mask_is_what_labelme_writes():
    from labelme import utils

    m = np.zeros((5, 7), bool)
    m[1:4, 2:6] = True
    assert encode_mask(m) == utils.img_arr_to_b64(m.astype(np.uint8))
    np.testing.assert_array_equal(decode_mask(encode_mask(m)), m)


def test_lenient_read_of_old_file_with_extra_keys(tmp_path):
    old = {
        "version": "3.16.7",
        "shapes": [{"label": "farmland", "line_color": None, "points": [[0, 0], [4, 0], [4, 4]]}],
        "lineColor": [0, 255, 0, 128],
        "imagePath": "img\\a.png",
        "imageHeight": 8,
        "imageWidth": 8,
    }
    p = tmp_path / "a.json"
    p.write_text(json.dumps(old), encoding="utf-8")
    ann = load_annotation(p)
    assert ann.image_path == "img/a.png"
    assert ann.shapes[0].shape_type == "polygon"
    assert ann.shapes[0].extra == {"line_color": None}
    assert ann.extra == {"lineColor": [0, 255, 0, 128]}
    assert ann.flags == {} and ann.image_data is None
    save_annotation(ann, p)
    back = json.loads(p.read_text(encoding="utf-8"))
    assert back["lineColor"] == [0, 255, 0, 128]
    assert back["shapes"][0]["line_color"] is None
    assert back["shapes"][0]["description"] == "" and back["shapes"][0]["mask"] is None


@pytest.mark.parametrize(
    "shape, fragment",
    [
        (Shape("farmland", [[0, 0], [1, 1]]), "at least 3"),
        (Shape("farmland", [[0, 0], [1, 1], [2, 0]], shape_type="blob"), "shape_type"),
        (Shape("", [[0, 0], [1, 1], [2, 0]]), "label"),
        (Shape("farmland", [[0, 0], [1, 1], [2, 0]], flags={"ok": 1}), "flags"),
        (Shape("farmland", [[0, 0], [1, 1]], shape_type="mask"), "mask array"),
        (Shape("farmland", [[0, 0], [1, float("nan")], [2, 0]]), "finite"),
    ],
)
def test_strict_write_refuses_what_labelme_would_not_load(tmp_path, shape, fragment):
    ann = Annotation(shapes=[shape], image_path="a.png", image_height=4, image_width=4)
    with pytest.raises(InputError, match=fragment):
        save_annotation(ann, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_image_data_size_checked_against_dimensions(tmp_path):
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    ann = Annotation(shapes=[], image_path="a.png", image_height=3, image_width=5, image_data=b64)
    save_annotation(ann, tmp_path / "ok.json")
    ann.image_width = 6
    with pytest.raises(InputError, match="5 x 3"):
        save_annotation(ann, tmp_path / "bad.json")


def test_image_data_limit(tmp_path):
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"shapes": [], "imagePath": "a.png", "imageData": "A" * 4000}), encoding="utf-8")
    with pytest.raises(InputError, match="over the limit"):
        load_annotation(p, max_image_data_bytes=1000)
    assert load_annotation(p).image_data == "A" * 4000


def test_image_path_must_stay_in_project(tmp_path):
    proj = tmp_path / "proj"
    (proj / "ann").mkdir(parents=True)
    p = proj / "ann" / "a.json"
    p.write_text(json.dumps({"shapes": [], "imagePath": "../img/a.png"}), encoding="utf-8")
    ann = load_annotation(p)
    with pytest.raises(InputError, match="outside the project folder"):
        resolve_image_path(ann, p)  # default root: the JSON's own folder
    assert resolve_image_path(ann, p, project_dir=proj) == (proj / "img" / "a.png").resolve()
    ann.image_path = "../../../etc/passwd"
    with pytest.raises(InputError):
        resolve_image_path(ann, p, project_dir=proj)
    assert resolve_image_path(ann, p, allow_outside=True).name == "passwd"
    with pytest.raises(InputError, match="outside"):
        load_annotation(p, project_dir=proj / "ann")


@pytest.mark.parametrize("text, fragment", [("{not json", "not valid JSON"), ("[1, 2]", "not a labelme"),
                                            ('{"shapes": [{"points": [[0, 0]]}]}', "label")])
def test_bad_files_give_input_error_naming_file(tmp_path, text, fragment):
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=fragment) as exc:
        load_annotation(p)
    assert "bad.json" in str(exc.value)


@pytest.mark.parametrize("points", [[[0, 0], ["1", 2]], [[0, 0], [1, 2, 3]], [[0, 0], [1]], [[0, None]], "0 0",
                                    [[[0, 0]]], [0, 1]])
def test_points_that_are_not_number_pairs_are_refused(tmp_path, points):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"shapes": [{"label": "farmland", "points": points}]}), encoding="utf-8")
    with pytest.raises(InputError, match="points"):
        load_annotation(p)


def test_points_of_ints_floats_and_bools_load_as_floats(tmp_path):
    p = tmp_path / "ok.json"
    pts = [[0, 1.5], [True, 2], [3, 4]]
    p.write_text(json.dumps({"shapes": [{"label": "farmland", "points": pts}, {"label": "x", "points": []}]}),
                 encoding="utf-8")
    shapes = load_annotation(p).shapes
    assert shapes[0].points == [[0.0, 1.5], [1.0, 2.0], [3.0, 4.0]]
    assert all(type(v) is float for pt in shapes[0].points for v in pt)
    assert shapes[1].points == []


def test_annotations_folder_belongs_to_its_project(tmp_path):
    """A file in a project's annotations/ folder may reach ../scenes; other folders are their own project."""
    proj = tmp_path / "proj"
    (proj / "annotations").mkdir(parents=True)
    p = proj / "annotations" / "a.json"
    p.write_text(json.dumps({"shapes": [], "imagePath": "../scenes/a.tif"}), encoding="utf-8")
    assert resolve_image_path(load_annotation(p), p) == (proj / "scenes" / "a.tif").resolve()
    assert project_folder(p) == proj and project_folder(proj / "annotations") == proj
    assert project_folder(proj) == proj
    p.write_text(json.dumps({"shapes": [], "imagePath": "../../a.tif"}), encoding="utf-8")
    with pytest.raises(InputError, match="outside the project folder"):
        resolve_image_path(load_annotation(p), p)
