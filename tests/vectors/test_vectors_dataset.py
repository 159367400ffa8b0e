"""export-vectors on a dataset built by build-dataset: a ``tiles`` and a ``parcels`` layer that overlay."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from click.testing import CliRunner
from fiboa_judge import fiboa_validate
from pyproj import CRS
from vector_fixtures import HAND_PARCELS, SCENE_CRS, SCENE_TRANSFORM, hand_annotation, write_scene

from farmannot.cli.main import cli
from farmannot.errors import InputError
from farmannot.io.labelme_json import save_annotation
from farmannot.vectors.exporter import ExportOptions, export_vectors

KEYWORDS = {"shape": "blocky", "boundary": "straight", "sowing": "fully_covered",
            "distribution": "concentrated_contiguous", "terrain": "flat", "landscape": "plain",
            "buildings": "absent", "water": "absent", "vegetation": "absent", "month": "may"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    project = root / "project"
    (project / "annotations").mkdir(parents=True)
    (project / "scenes").mkdir()
    write_scene(project / "scenes" / "scene.tif")
    ann = hand_annotation(image_path="../scenes/scene.tif")
    ann.farmannot["caption"]["keywords"] = {k: {"value": v, "source": "confirmed"} for k, v in KEYWORDS.items()}
    save_annotation(ann, project / "annotations" / "scene.json")
    (project / "scenes.csv").write_text("scene,region\nscene.tif,north\n")
    out = root / "dataset"
    res = CliRunner().invoke(cli, ["build-dataset", str(project), "-o", str(out), "--tile-size", "64",
                                   "--layout", "farmseg-vl", "--split", "1:0:0", "--no-progress"])
    assert res.exit_code == 0, res.output
    return out, project


def test_gpkg_has_tiles_and_parcels(dataset, tmp_path):
    dataset, project = dataset
    out = tmp_path / "dataset.gpkg"
    rep = export_vectors(dataset, out, ExportOptions(fmt="gpkg", project=project))
    assert sorted(str(n) for n in pyogrio.list_layers(out)[:, 0]) == ["parcels", "tiles"]
    info = pyogrio.read_info(out, layer="tiles")
    assert CRS.from_user_input(info["crs"]) == CRS.from_user_input(SCENE_CRS)
    assert {"tile_id", "scene", "region", "split", "caption_en", "kw_shape"} <= set(info["fields"])
    meta, _, wkb, data = pyogrio.raw.read(out, layer="tiles", return_fids=True)
    f = dict(zip(meta["fields"], data))
    tiles = shapely.from_wkb(wkb)
    assert rep.tiles == len(tiles) > 0
    assert set(f["split"]) == {"train"} and set(f["region"]) == {"north"}
    assert all(c for c in f["caption_en"])
    # a tile's footprint is its window on the scene grid: 64 px x 10 m, origin from the window offsets
    a, _, c, _, e, fo = tuple(SCENE_TRANSFORM)[:6]
    for g, r0, c0, w, h in zip(tiles, f["row_off"], f["col_off"], f["width"], f["height"]):
        want = shapely.box(c + a * c0, fo + e * (r0 + h), c + a * (c0 + w), fo + e * r0)
        assert g.equals(want)
    # parcels: the four hand parcels, in the same CRS, with their scene's split and region
    meta, _, wkb, data = pyogrio.raw.read(out, layer="parcels", return_fids=True)
    p = dict(zip(meta["fields"], data))
    np.testing.assert_allclose(p["area_m2"], [a for a, _ in HAND_PARCELS])
    assert set(p["split"]) == {"train"} and set(p["region"]) == {"north"}
    assert shapely.union_all(tiles).covers(shapely.union_all(shapely.from_wkb(wkb)).buffer(-1))


def test_single_layer_formats_write_tiles_beside(dataset, tmp_path, monkeypatch):
    dataset, project = dataset
    out = tmp_path / "ds.geojson"
    rep = export_vectors(dataset, out, ExportOptions(fmt="geojson", project=project))
    assert [p.name for p in rep.files] == ["ds.geojson", "ds_tiles.geojson"]
    info = pyogrio.read_info(tmp_path / "ds_tiles.geojson")
    assert CRS.from_user_input(info["crs"]).equals(CRS.from_epsg(4326), ignore_axis_order=True)
    rep = export_vectors(dataset, tmp_path / "ds.parquet", ExportOptions(fmt="fiboa", project=project))
    assert [p.name for p in rep.files] == ["ds.parquet", "ds_tiles.gpkg"] and rep.parcels == 4
    # the dataset's parcels (with split, region and captions) pass fiboa-cli's own validator
    result = fiboa_validate(tmp_path / "ds.parquet", monkeypatch)
    assert result.is_valid(), result.errors
    assert result.warnings == ["group_id: No schema defined"]


def test_project_recorded_by_the_build_is_used(dataset, tmp_path):
    """The report records the project folder build-dataset read: found without --project, wherever it is."""
    dataset, project = dataset
    assert json.loads((dataset / "build_report.json").read_text())["project"] == str(project.resolve())
    res = CliRunner().invoke(cli, ["export-vectors", str(dataset), "-o", str(tmp_path / "a.gpkg"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert pyogrio.read_info(tmp_path / "a.gpkg", layer="parcels")["features"] == len(HAND_PARCELS)


def test_project_found_or_named(dataset, tmp_path):
    dataset, project = dataset
    # the dataset copied elsewhere, its project moved: the report's folder no longer exists
    moved = tmp_path / "copied-dataset"
    shutil.copytree(dataset, moved)
    report = json.loads((moved / "build_report.json").read_text())
    report["project"] = str(tmp_path / "moved-away")
    (moved / "build_report.json").write_text(json.dumps(report))
    dataset = moved
    with pytest.raises(InputError, match="pass --project PROJECT_DIR"):
        export_vectors(dataset, tmp_path / "a.gpkg", ExportOptions())
    rep = export_vectors(dataset, tmp_path / "a.gpkg", ExportOptions(keep_going=True))
    assert rep.parcels == 0 and rep.tiles > 0 and len(rep.failed) == 1
    assert pyogrio.read_info(tmp_path / "a.gpkg", layer="parcels")["features"] == 0
    res = CliRunner().invoke(cli, ["export-vectors", str(dataset), "-o", str(tmp_path / "b.gpkg"),
                                   "--project", str(project), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "4 parcels from 1 annotation(s)" in res.output and "tiles" in res.output


def test_broken_manifest(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.parquet").write_text("nope")
    with pytest.raises(InputError, match="not a readable manifest"):
        export_vectors(broken, tmp_path / "x.gpkg", ExportOptions())
