"""The import-vectors and export-vectors commands through click: outputs, one-line errors, exit codes."""

from __future__ import annotations

import pyogrio
from click.testing import CliRunner

from farmannot.cli.main import cli
from farmannot.io.labelme_json import load_annotation


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_import_then_export_cli(tmp_path, utm_scene, lonlat_parcels):
    ann = tmp_path / "a.json"
    res = run("import-vectors", lonlat_parcels, "--scene", utm_scene, "-o", ann, "--label-field", "crop",
              "--label-map", "maize=farmland")
    assert res.exit_code == 0, res.output
    assert "4 of 7 features -> " in res.output and "1 invalid geometries repaired" in res.output
    assert "skipped points/lines: 1 LineString, 1 Point" in res.output
    assert "farmland" in {s.label for s in load_annotation(ann).shapes}
    res = run("import-vectors", lonlat_parcels, "--scene", utm_scene, "-o", ann, "--merge")
    assert res.exit_code == 0 and "4 already in the annotation (skipped)" in res.output
    out = tmp_path / "p.gpkg"
    res = run("export-vectors", ann, "-o", out)
    assert res.exit_code == 0, res.output
    assert "parcels from 1 annotation(s) in EPSG:32633" in res.output
    assert pyogrio.read_info(out)["features"] == 4
    res = run("export-vectors", ann, "-o", tmp_path / "p.parquet", "--determination-datetime", "2020-05-18")
    assert res.exit_code == 0, res.output


def test_cli_errors_are_one_line(tmp_path, utm_scene, lonlat_parcels):
    res = run("import-vectors", lonlat_parcels, "--scene", utm_scene, "-o", tmp_path / "a.json",
              "--label-field", "kind")
    assert res.exit_code == 1
    assert res.output.strip().startswith("Error:") and len(res.output.strip().splitlines()) == 1
    assert "the fields are: crop, farm_no" in res.output
    res = run("import-vectors", lonlat_parcels, "--scene", utm_scene, "-o", tmp_path / "a.json", "--label-map", "x")
    assert res.exit_code == 1 and "OLD=NEW" in res.output
    res = run("import-vectors", lonlat_parcels, "--scene", utm_scene, "-o", tmp_path / "a.json", "--merge",
              "--overwrite")
    assert res.exit_code == 2
    res = run("export-vectors", tmp_path, "-o", tmp_path / "x.gpkg")
    assert res.exit_code == 1 and "no labelme annotation" in res.output
    res = run("export-vectors", tmp_path, "-o", tmp_path / "x.gpkg", "--format", "kml")
    assert res.exit_code == 2
