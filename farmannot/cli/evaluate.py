"""``farmannot evaluate``: score a trained run on a dataset split, or saved predictions against GT masks."""

from __future__ import annotations

from typing import get_args

import click

from farmannot.cli.locking import locks_output
from farmannot.cli.options import Failures, keep_going_option, progress_option
from farmannot.cli.training_options import batch_size_option, train_device_option
from farmannot.dataset.split import SPLITS
from farmannot.errors import FarmannotError
from farmannot.train.metrics.protocol import Protocol


@click.command("evaluate")
@click.argument("run", required=False, type=click.Path(exists=True))
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset root or layout folder (with RUN).")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--pred", "pred_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of saved predictions (PNG/GeoTIFF, non-zero = parcel; float scores in [0, 1]).")
@click.option("--gt", "gt_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of GT masks paired with --pred by file name.")
@click.option("--ignore-value", type=int, default=None, help="GT value to leave out of pixel metrics (e.g. 255).")
@click.option("--manifest", type=click.Path(exists=True), default=None,
              help="manifest.parquet giving each file's region (with --pred).")
@click.option("--images", "images_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Tile images for the overlays (with --pred).")
@click.option("--protocol", type=click.Choice(get_args(Protocol)), default="gtpbd", show_default=True,
              help="Edge metric protocol.")
@click.option("--bsds-levels", type=click.IntRange(1, 999), default=99, show_default=True,
              help="Score thresholds of the bsds sweep.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Report folder.")
@train_device_option
@batch_size_option
@keep_going_option(help="With --pred: leave out a pair that cannot be read, score the rest, list the failures at the end "
                   "and in OUTPUT/errors.json.")
@progress_option
@locks_output("evaluate")
def command(run, dataset, split, pred_dir, gt_dir, ignore_value, manifest, images_dir, protocol, bsds_levels,
            output, device, batch_size, keep_going, progress):
    """Evaluate RUN (a run folder or checkpoint) on --dataset, or --pred DIR against --gt DIR.

    Writes OUTPUT/metrics.json, OUTPUT/report.md (overall and per-region tables), plots and overlays.
    """
    if pred_dir or gt_dir:
        if not (pred_dir and gt_dir) or run:
            raise FarmannotError("give --pred and --gt together, without a RUN.")
        from pathlib import Path

        from farmannot.train.evaluate import evaluate_folders

        failures = Failures(keep_going, "evaluate")
        result = evaluate_folders(pred_dir, gt_dir, output, protocol, ignore_value, manifest, images_dir,
                                  bsds_levels, progress, on_error=failures.record)
        failures.write(Path(output) / "errors.json")
        if failures:
            from farmannot.train.report import summary_line

            click.echo(f"{summary_line(result)} -> {output}/report.md")
            failures.report(len(failures) + result["meta"]["pairs"], "mask pair(s)")
    else:
        if not run or not dataset:
            raise FarmannotError("give RUN and --dataset (or --pred and --gt).")
        from farmannot.train.evaluate import evaluate_run

        result = evaluate_run(run, dataset, output, split, protocol, device, batch_size, bsds_levels, progress)
    from farmannot.train.report import summary_line

    click.echo(f"{summary_line(result)} -> {output}/report.md")
