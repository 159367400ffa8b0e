"""``farmannot audit``: rank a dataset's tiles by how much out-of-fold predictions disagree with their labels."""

from __future__ import annotations

import click

from farmannot.cli.locking import locks_output
from farmannot.cli.options import progress_option
from farmannot.cli.train import arch_options
from farmannot.cli.training_options import (
    amp_option,
    batch_size_option,
    encoder_depth_option,
    encoder_option,
    inputs_option,
    lr_option,
    model_option,
    seed_option,
    train_device_option,
    workers_option,
)
from farmannot.train.audit import BLOCK_TILES, FOLD_BY, FOLD_EPOCHS, FOLDS, TOP


@click.command("audit")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="Audit folder: audit.csv, audit.md, plots/, overlays/, suspects.txt, suspects.json, oof/, "
                   "folds/, reviewed.json.")
@click.option("--folds", type=click.IntRange(2, None), default=FOLDS, show_default=True)
@click.option("--fold-by", type=click.Choice(FOLD_BY), default=FOLD_BY[0], show_default=True,
              help="block: each scene's spatial blocks dealt over the folds; scene: whole scenes per fold.")
@click.option("--block-tiles", type=click.IntRange(1, None), default=BLOCK_TILES, show_default=True,
              help="Block edge in tiles with --fold-by block.")
@model_option
@encoder_option(help="Encoder name (default as in 'farmannot train').")
@encoder_depth_option
@inputs_option
@click.option("--epochs", type=click.IntRange(1, None), default=FOLD_EPOCHS, show_default=True, help="Epochs per fold.")
@batch_size_option
@lr_option
@seed_option
@train_device_option
@amp_option
@workers_option
@click.option("--top", type=click.IntRange(1, None), default=TOP, show_default=True,
              help="How many of the worst tiles get overlays and go to suspects.txt.")
@progress_option
@locks_output("audit")
def command(dataset_dir, output, folds, fold_by, block_tiles, model, encoder, encoder_depth, inputs, epochs,
            batch_size, lr, seed, device, amp, workers, top, progress):
    """Out-of-fold predictions for every tile of DATASET_DIR, ranked by disagreement with the label.

    Re-running into the same OUTPUT resumes the fold models whose training tiles and options are unchanged
    and retrains the others; suspects marked right (reviewed.json) are ranked last while their label is
    unchanged. Open the suspects with: farmannot annotate --suspects OUTPUT.
    """
    from farmannot.train.audit import run_audit
    from farmannot.train.config import TrainConfig

    cfg = TrainConfig(dataset=str(dataset_dir), model=model, encoder=encoder, inputs=inputs, epochs=epochs,
                      batch_size=batch_size, lr=lr, seed=seed, device=device, amp=amp, workers=workers,
                      arch_kwargs=arch_options(model, encoder_depth))
    rows = run_audit(dataset_dir, output, cfg, folds, top, progress, fold_by=fold_by, block_tiles=block_tiles)
    click.echo(f"audited {len(rows)} tile(s); worst: "
               + ", ".join(f"{r['tile_id']} ({r['score']:.2f})" for r in rows[:5]) + f" -> {output}/audit.md",
               err=True)
