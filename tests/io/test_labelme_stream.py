"""The streamed annotation reader against ``load_annotation`` (the whole file through ``json.load``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from farmannot.errors import InputError
from farmannot.io import labelme_stream
from farmannot.io.labelme_json import load_annotation
from farmannot.io.labelme_stream import stream_annotation


def _streamed(path, batch, chunk, monkeypatch):
    monkeypatch.setattr(labelme_stream, "CHUNK_CHARS", chunk)
    got, firsts = [], []

    def take(shapes, first):
        firsts.append(first)
        got.extend(shapes)

    ann = stream_annotation(path, take, batch=batch)
    return ann, got, firsts


@pytest.mark.parametrize("batch, chunk", [(7, 97), (4096, 1 << 20)])
def test_same_shapes_and_header_as_load_annotation(sample_data, monkeypatch, batch, chunk):
    """Every sample annotation (the Landsat one: 826 shapes, 636 kB), read through windows of 97 characters
    (values cut anywhere, numbers included) and in batches of 7, equals the whole-file read."""
    files = sorted((sample_data / "annotations").glob("*.json"))
    assert len(files) >= 3
    for path in files:
        whole = load_annotation(path)
        ann, shapes, firsts = _streamed(path, batch, chunk, monkeypatch)
        assert len(shapes) == len(whole.shapes) > 0
        assert firsts == list(range(0, len(shapes), batch))
        for a, b in zip(shapes, whole.shapes):
            assert (a.label, a.points, a.shape_type, a.group_id, a.description, a.flags, a.extra) == \
                   (b.label, b.points, b.shape_type, b.group_id, b.description, b.flags, b.extra)
            assert (a.mask is None) == (b.mask is None)
            if a.mask is not None:
                np.testing.assert_array_equal(a.mask, b.mask)
        assert ann.shapes == []
        assert (ann.image_path, ann.image_width, ann.image_height, ann.version, ann.flags, ann.farmannot,
                ann.extra) == (whole.image_path, whole.image_width, whole.image_height, whole.version,
                               whole.flags, whole.farmannot, whole.extra)
        header = stream_annotation(path)  # shapes only checked as JSON
        assert header.image_path == whole.image_path and header.shapes == []


@pytest.mark.parametrize("text, fragment", [
    ('{"shapes": [{"label": "a", "points": [[1, 2]]}, ', "not valid JSON"),          # cut short
    ('{"shapes": [], "imagePath": "x.tif"} {}', "not valid JSON"),                    # trailing data
    ('{"shapes": [] "imagePath": "x.tif"}', "not valid JSON"),                       # missing comma
    ("[1, 2]", "not a labelme"),
    ('{"shapes": 5}', "not a labelme"),
    ('{"shapes": [{"label": "a", "points": [[1, NaN]]}]}', "NaN or infinite vertex"),
    ('{"shapes": [{"points": [[1, 2]]}]}', "shape 0: shape has no text 'label'"),
])
def test_bad_files_fail_as_load_annotation_does(tmp_path, monkeypatch, text, fragment):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(labelme_stream, "CHUNK_CHARS", 5)
    with pytest.raises(InputError, match=fragment) as streamed:
        stream_annotation(path, lambda shapes, first: None)
    with pytest.raises(InputError, match=fragment):
        load_annotation(path)
    assert str(path) in str(streamed.value)


def test_header_read_needs_no_valid_shapes_but_valid_json(tmp_path):
    """Discovery reads the header only: a shape error is left to the build, broken JSON is not."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"shapes": [{"label": 3}], "imagePath": "s.tif", "imageWidth": 10,
                                "imageHeight": 12}), encoding="utf-8")
    ann = stream_annotation(path)
    assert (ann.image_path, ann.image_width, ann.image_height) == ("s.tif", 10, 12)
    with pytest.raises(InputError, match="no text 'label'"):
        stream_annotation(path, lambda shapes, first: None)
