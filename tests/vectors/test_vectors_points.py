"""Survey points -> one SAM parcel per point: placement on the pixel grid, the per-point logic, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from shapely.geometry import LineString, MultiPoint, Point, box
from vector_fixtures import SCENE_TRANSFORM, pixel_to_lonlat, write_scene, write_vectors

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.io.labelme_json import load_annotation
from farmannot.sam.model import TINY
from farmannot.sam.point_parcels import segment_points
from farmannot.sam.scene_views import LargeScene
from farmannot.sam.session import SamSession
from farmannot.vectors.importer import ImportOptions, scene_grid
from farmannot.vectors.points import points_on_scene
from farmannot.vectors.reader import read_vectors

# three fields on the 120 x 120 px scene (pixel-edge boxes); the oracle below answers with the field under the
# prompt, as a perfect SAM would
FIELDS = [box(10, 10, 50, 40), box(60, 10, 110, 50), box(20, 60, 70, 110)]


def _lonlat_point(x, y):
    return pixel_to_lonlat(Point(x, y))


def test_points_land_on_their_known_pixels(tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    geoms = [Point(15.0, 0.0),  # by UTM's definition: pixel-edge (20, 100) of the fixture scene
             _lonlat_point(30.5, 20.25), MultiPoint([_lonlat_point(70, 30), _lonlat_point(80, 40)]),
             _lonlat_point(500, 500),  # off the scene
             LineString([(15, 0), (15.001, 0)]), pixel_to_lonlat(box(1, 1, 5, 5))]
    src = write_vectors(tmp_path / "survey.gpkg", geoms, {"crop": ["maize", "soy", "wheat", "rice", "x", "y"],
                                                           "visit": [1, 2, 3, 4, 5, 6]})
    pts = points_on_scene(read_vectors(src), scene_grid(scene), ImportOptions(label_field="crop"))
    assert len(pts) == 4  # the multi-point gives two prompts
    np.testing.assert_allclose(pts.xy, [[20, 100], [30.5, 20.25], [70, 30], [80, 40]], atol=1e-6)
    assert pts.labels == ["maize", "soy", "wheat", "wheat"]
    assert [a["visit"] for a in pts.attributes] == [1, 2, 3, 3]
    assert len(pts.outside) == 1 and pts.outside[0].endswith(":4")  # the fourth feature (fid 4)
    assert pts.not_points == {"LineString": 1, "Polygon": 1}


def test_point_file_errors(tmp_path):
    scene = write_scene(tmp_path / "scene.tif")
    no_crs = write_vectors(tmp_path / "nocrs.shp", [Point(15.0, 0.0)], {"id": [1]}, crs=None)  # no .prj
    with pytest.raises(InputError, match="--assume-crs"):
        points_on_scene(read_vectors(no_crs), scene_grid(scene))
    pts = points_on_scene(read_vectors(no_crs), scene_grid(scene), ImportOptions(assume_crs="EPSG:4326"))
    np.testing.assert_allclose(pts.xy, [[20, 100]], atol=1e-6)
    lines = write_vectors(tmp_path / "lines.gpkg", [LineString([(15, 0), (15.01, 0)])], {"id": [1]})
    with pytest.raises(InputError, match="no point features.*1 LineString"):
        points_on_scene(read_vectors(lines), scene_grid(scene))
    far = write_vectors(tmp_path / "far.gpkg", [Point(40.0, 40.0)], {"id": [1]})
    with pytest.raises(InputError, match="none of its 1 point"):
        points_on_scene(read_vectors(far), scene_grid(scene))


@pytest.fixture()
def field_scene(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((3, 120, 120)) * 30 + 40).astype(np.uint8)
    for k, f in enumerate(FIELDS):
        x0, y0, x1, y1 = (int(v) for v in f.bounds)
        data[:, y0:y1, x0:x1] = np.array([[90, 160, 60], [170, 150, 90], [60, 120, 40]][k], np.uint8)[:, None, None]
    path = tmp_path / "fields.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=120, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=SCENE_TRANSFORM) as dst:
        dst.write(data)
        dst.descriptions = ("red", "green", "blue")
    return path


def _oracle(session, scene: LargeScene, fields=FIELDS):
    """Make ``session.predict`` answer with the field under the (single) prompt point, in chip pixels."""
    def predict(emb, points, labels):
        h, w = emb.original_size
        choice = scene.chip_for(np.asarray(points, float)[:1])  # one chip covers this small scene
        x, y = np.asarray(points, float)[0] / choice.scale + [choice.window.col_off, choice.window.row_off]
        mask = np.zeros((h, w), bool)
        for f in fields:
            if f.contains(Point(x, y)):
                x0, y0, x1, y1 = (int(round(v * choice.scale)) for v in f.bounds)
                mask[y0:y1, x0:x1] = True
        return mask, 0.9
    session.predict = predict


def test_one_parcel_per_point_and_two_visits_to_one_field(field_scene):
    scene = LargeScene(field_scene, {"red": 1, "green": 2, "blue": 3}, chip=128, chip_overlap=0)
    session = SamSession.random(TINY, seed=0)
    _oracle(session, scene)
    xy = np.array([[30.5, 20.5], [100.5, 45.5], [40.5, 30.5], [5.5, 115.5], [45.5, 100.5]])
    found = segment_points(scene, session, xy)
    assert [f.status for f in found] == ["ok", "ok", "inside parcel of point 0", "mask misses the point", "ok"]
    for f, want in zip([found[0], found[1], found[4]], FIELDS):
        g = f.parcel.to_shapely()
        assert g.covers(Point(xy[f.index])) and g.symmetric_difference(want).area < 1e-6
    assert not found[0].from_cache and found[1].from_cache  # one chip, embedded once


def test_keep_apart_cuts_a_parcel_at_the_ones_before_it(field_scene):
    scene = LargeScene(field_scene, {"red": 1, "green": 2, "blue": 3}, chip=128, chip_overlap=0)
    session = SamSession.random(TINY, seed=0)
    _oracle(session, scene)
    first = segment_points(scene, session, np.array([[15.5, 20.5]]))[0].parcel.to_shapely()
    _oracle(session, scene, [box(10, 10, 50, 40), box(30, 10, 110, 50)])  # the second field overlaps the first
    both = segment_points(scene, session, np.array([[15.5, 20.5], [100.5, 45.5]]))
    apart = both[1].parcel.to_shapely()
    assert apart.intersection(first).area == 0 and apart.area == pytest.approx(80 * 40 - 20 * 30)
    loose = segment_points(scene, session, np.array([[15.5, 20.5], [100.5, 45.5]]), keep_apart=False)
    assert loose[1].parcel.to_shapely().area == pytest.approx(80 * 40)


def test_propose_points_cli_writes_labelled_drafts(field_scene, tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint
    geoms = [_lonlat_point(30.5, 20.5), _lonlat_point(100.5, 45.5), _lonlat_point(900, 900)]
    survey = write_vectors(tmp_path / "survey.gpkg", geoms, {"crop": ["maize", "soy", "rice"], "visit": [1, 2, 3]})
    out = tmp_path / "drafts.json"
    res = CliRunner().invoke(cli, ["propose", str(field_scene), "--points", str(survey), "--label-field", "crop",
                                   "--sam-checkpoint", str(ckpt), "--chip", "128", "--overlap", "0",
                                   "--cache-dir", str(tmp_path / "cache"), "-o", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "from 2 point(s) on the scene (1 off the scene" in res.output
    ann = load_annotation(out)
    assert ann.farmannot["provenance"]["method"] == "sam-points"
    n = int(res.output.split(" parcel(s)")[0].split()[-1])
    assert n >= 1  # the tiny random SAM (seed 0) finds a parcel under the first point
    firsts = []
    for s in ann.shapes:  # drafts: flagged; each parcel's first part carries the point's attributes
        assert s.flags.get("proposal") is True
        d = json.loads(s.description)
        if s.label != "_background_" and "attributes" in d:
            assert d["attributes"]["crop"] == s.label and d["attributes"]["score"] > 0
            firsts.append(s)
    assert len(firsts) == n and {s.label for s in firsts} <= {"maize", "soy"}
