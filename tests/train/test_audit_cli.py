"""`farmannot audit` driven through click as a user types it: files written, one summary line, re-run resumes."""

import csv
import json

from click.testing import CliRunner
from train_fixtures import write_gtpbd

from farmannot.cli.main import cli

ARGS = ["--folds", "2", "--fold-by", "tile", "--epochs", "2", "--batch-size", "4", "--encoder",
        "tu-mobilenetv3_small_050", "--encoder-depth", "3", "--device", "cpu", "--workers", "0", "--top", "3",
        "--no-progress"]


def test_audit_command_writes_the_ranking_and_resumes(tmp_path):
    ds = write_gtpbd(tmp_path / "ds", n_train=4, n_val=2, n_test=2, corrupt=("train_001",))
    out = tmp_path / "audit"
    res = CliRunner().invoke(cli, ["audit", str(ds), "--output", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    assert "audited 8 tile(s); worst:" in res.output and str(out) in res.output
    with open(out / "audit.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["tile_id"] for r in rows} == {f"{s}_{i:03d}" for s, n in
                                                               (("train", 4), ("val", 2), ("test", 2))
                                                               for i in range(n)}
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert len((out / "suspects.txt").read_text().splitlines()) == 3
    assert len(json.loads((out / "suspects.json").read_text())["suspects"]) == 3
    stamps = {p: p.stat().st_mtime_ns for p in (out / "folds").glob("fold*/last.pt")}
    assert len(stamps) == 2

    again = CliRunner().invoke(cli, ["audit", str(ds), "--output", str(out), *ARGS])
    assert again.exit_code == 0, again.output
    # nothing changed: the fold models are reused, not retrained
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_audit_command_refuses_a_folder_without_a_dataset(tmp_path):
    res = CliRunner().invoke(cli, ["audit", str(tmp_path), "--output", str(tmp_path / "a"), *ARGS])
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit)  # a message, not a crash
    assert str(tmp_path) in res.output
