"""`evaluate --pred --gt` over folders: a bad pair is one line, and with --keep-going the rest is scored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clirun import assert_failed_cleanly, assert_kept_going, error_logs, run  # noqa: F401
from PIL import Image


def _pairs(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    for i in range(3):
        m = np.zeros((32, 32), np.uint8)
        m[4 + i:20, 6:24 - i] = 1
        Image.fromarray(m).save(gt / f"t{i}.png")
        Image.fromarray(m).save(pred / f"t{i}.png")  # a perfect prediction
    (pred / "t1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # the broken one
    return pred, gt


def test_a_broken_prediction_is_one_line(tmp_path):
    pred, gt = _pairs(tmp_path)
    res = run("evaluate", "--pred", pred, "--gt", gt, "--output", tmp_path / "out", "--no-progress")
    assert_failed_cleanly(res, "t1.png")


def test_keep_going_scores_the_other_pairs(tmp_path):
    pred, gt = _pairs(tmp_path)
    out = tmp_path / "out"
    res = run("evaluate", "--pred", pred, "--gt", gt, "--output", out, "--no-progress", "--keep-going")
    assert_kept_going(res, "t1.png")
    assert "1 of 3 mask pair(s) failed" in res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["meta"]["pairs"] == 2 and metrics["meta"]["failed"] == ["t1"]
    assert metrics["overall"]["IoU"] == pytest.approx(1.0)  # the two readable pairs are perfect
    assert [e["file"].endswith("t1.png") for e in json.loads((out / "errors.json").read_text())] == [True]


def test_a_size_mismatch_names_both_files_and_sizes_and_what_to_do(tmp_path):
    pred, gt = _pairs(tmp_path)
    Image.fromarray(np.zeros((32, 40), np.uint8)).save(pred / "t1.png")   # 40 px wide, its mask 32
    with Image.open(pred / "t1.png") as a, Image.open(gt / "t1.png") as b:  # what the files declare (PIL: W, H)
        assert (a.size, b.size) == ((40, 32), (32, 32))
    line = assert_failed_cleanly(run("evaluate", "--pred", pred, "--gt", gt, "--output", tmp_path / "out",
                                     "--no-progress"), str(pred / "t1.png"), str(gt / "t1.png"), "40 x 32 px",
                                 "32 x 32 px")
    assert "predict on the image that mask was drawn on" in line


def test_kappa_of_a_constant_prediction_is_written_0_not_minus_0(tmp_path):
    pred, gt = _pairs(tmp_path)
    for i in range(3):  # predicts no parcel anywhere: observed agreement equals chance agreement, Kappa = 0
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(pred / f"t{i}.png")
    out = tmp_path / "out"
    res = run("evaluate", "--pred", pred, "--gt", gt, "--output", out, "--no-progress")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["overall"]["Kappa"] == pytest.approx(0.0, abs=1e-9)
    lines = (out / "report.md").read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| set |"))
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    row = [c.strip() for c in lines[head + 2].strip("|").split("|")]
    assert row[0] == "all" and row[cols.index("Kappa")] == "0.0000", lines[head:head + 3]
    assert row[cols.index("IoU")] == "0.00" and "-0.0" not in "\n".join(lines)


def test_a_failed_evaluate_leaves_no_empty_folder_it_created(tmp_path):
    pred, gt = _pairs(tmp_path)
    res = run("evaluate", "--pred", pred, "--gt", gt, "--output", tmp_path / "new" / "deeper" / "report", "--no-progress")
    assert_failed_cleanly(res, "t1.png")
    assert not (tmp_path / "new").exists()
    # a folder that was there before is the user's: kept, empty as it was
    (tmp_path / "mine").mkdir()
    assert_failed_cleanly(run("evaluate", "--pred", pred, "--gt", gt, "--output", tmp_path / "mine", "--no-progress"),
                          "t1.png")
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())
    # a failed run that wrote something (--keep-going: errors.json) keeps it
    res = run("evaluate", "--pred", pred, "--gt", gt, "--output", tmp_path / "kept", "--no-progress", "--keep-going")
    assert res.exit_code == 1
    assert json.loads((tmp_path / "kept" / "errors.json").read_text())
