"""Active time with idle gaps capped; per-image summary; SAM vs manual comparison by hand."""

from __future__ import annotations

import pytest

from farmannot.sam.annotation_time import ActiveTimer, append_record, new_record, read_records, summarize


def test_active_timer_caps_idle_gaps():
    t = ActiveTimer(idle_after_s=60, now=0.0)
    for now in (10.0, 20.0, 500.0, 505.0):  # 10 + 10 + (480 -> 60) + 5
        t.touch(now)
    assert t.active_s == pytest.approx(85.0)


def test_log_and_summary(tmp_path):
    recs = [("a.png", 100, 5, 5), ("a.png", 20, 6, 1), ("b.png", 60, 4, 4), ("c.png", 240, 3, 0)]
    for image, secs, shapes, sam in recs:
        append_record(tmp_path, new_record(image, secs, shapes, sam, saved=True))
    rows = read_records(tmp_path)
    assert len(rows) == 4
    per, overall = summarize(rows)
    assert list(per["image"]) == ["a.png", "b.png", "c.png"]
    assert list(per["active_s"]) == [120, 60, 240]
    assert list(per["mode"]) == ["sam", "sam", "manual"]
    assert overall["median_s_sam"] == 90 and overall["median_s_manual"] == 240
    assert overall["speedup"] == pytest.approx(240 / 90)
    assert overall["total_s"] == 420


def test_images_only_opened_are_not_manual_annotation(tmp_path):
    """An image flipped past (never saved, or saved without a shape) is 'viewed' and stays out of the comparison."""
    recs = [("a.png", 100, 5, 5, True), ("c.png", 240, 3, 0, True), ("d.png", 4, 7, 0, False),
            ("e.png", 2, 0, 0, True)]
    for image, secs, shapes, sam, saved in recs:
        append_record(tmp_path, new_record(image, secs, shapes, sam, saved=saved))
    per, overall = summarize(read_records(tmp_path))
    assert list(per["mode"]) == ["sam", "manual", "viewed", "viewed"]
    # only c.png is a manual annotation: the two quick looks would have pulled the manual median to 4 s
    assert overall["median_s_manual"] == 240 and overall["median_s_sam"] == 100
    assert overall["speedup"] == pytest.approx(2.4)
    assert overall["images"] == 4 and overall["total_s"] == 346
