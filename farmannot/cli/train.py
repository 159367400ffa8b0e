"""``farmannot train``: train a segmentation model on a dataset written by ``build-dataset``."""

from __future__ import annotations

import os

import click

from farmannot.cli.locking import locks_output
from farmannot.cli.options import progress_option
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
from farmannot.train.config import TrainConfig
from farmannot.train.models.catalog import FREEZABLE, TEXT_FUSIONS

DEFAULTS = TrainConfig()
UNET_DECODER = (256, 128, 64, 32, 16)


def arch_options(model: str, encoder_depth: int | None) -> dict:
    """smp keyword arguments for ``--encoder-depth`` (U-Net needs one decoder width per stage)."""
    if not encoder_depth:
        return {}
    out: dict = {"encoder_depth": encoder_depth}
    if model == "unet":
        out["decoder_channels"] = list(UNET_DECODER[5 - encoder_depth:])
    return out


@click.command("train")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", "output", required=True, type=click.Path(file_okay=False),
              help="Run folder: config.json, best.pt, last.pt, train_log.csv, loss.png.")
@model_option
@encoder_option(help="Encoder name (smp / timm 'tu-*'); default resnet18, mit_b0 for segformer, resnet50 for fcn; "
                     "etterra: the SAM image encoder (vit_b, vit_l, vit_h, or the size of --sam-checkpoint).")
@click.option("--encoder-weights", default=None, help="Pretrained encoder weights for smp (default none: no download).")
@encoder_depth_option(help="smp encoder depth (smaller = faster).")
@inputs_option(help="Model inputs: image only, + caption embedding, + DEM.")
@click.option("--text-fusion", type=click.Choice(TEXT_FUSIONS), default=DEFAULTS.text_fusion, show_default=True,
              help="How the caption conditions the decoder.")
@click.option("--epochs", type=click.IntRange(1, None), default=DEFAULTS.epochs, show_default=True)
@batch_size_option
@lr_option(help="Peak learning rate (AdamW).")
@click.option("--weight-decay", type=float, default=DEFAULTS.weight_decay, show_default=True)
@click.option("--warmup", type=click.FloatRange(0, 1), default=DEFAULTS.warmup, show_default=True,
              help="Warm-up fraction of all steps before the cosine decay.")
@seed_option
@train_device_option
@amp_option
@workers_option(help="Data-loading processes.")
@click.option("--augment/--no-augment", default=DEFAULTS.augment, show_default=True, help="Random flips and rotations.")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/last.pt (same result as an uninterrupted run).")
@click.option("--sam-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="etterra: segment-anything checkpoint (e.g. sam_vit_b_01ec64.pth) for the encoder and decoder.")
@click.option("--clip-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="etterra, tsmnet-text: CLIP state dict (open_clip .bin/.pt) for the text encoder.")
@click.option("--clip-model", default=None,
              help="etterra, tsmnet-text: open_clip text configuration without --clip-checkpoint (default ViT-B-16).")
@click.option("--clip-quick-gelu", is_flag=True, help="etterra: the CLIP weights use QuickGELU (OpenAI's originals).")
@click.option("--sam-image-size", type=click.IntRange(32, 1024), default=None,
              help="etterra: SAM input size, a multiple of 16 (default the checkpoint's; position tables resized).")
@click.option("--freeze", multiple=True, type=click.Choice([*FREEZABLE, "none"]), help="etterra: parts kept fixed (repeat; default the encoders loaded "
              "from a checkpoint; 'none' trains all); tsmnet-text: text-encoder (the default) or none.")
@click.option("--class-names", default=None, help="tsmnet-text: the two class names, background first "
              "(default 'background,farmland').")
@click.option("--overwrite", is_flag=True, help="Replace the run already in OUTPUT (refused without this flag).")
@progress_option
@locks_output("train")
def command(dataset_dir, output, model, encoder, encoder_weights, encoder_depth, inputs, text_fusion, epochs,
            batch_size, lr, weight_decay, warmup, seed, device, amp, workers, augment, resume, sam_checkpoint,
            clip_checkpoint, clip_model, clip_quick_gelu, sam_image_size, freeze, class_names, overwrite, progress):
    """Train on DATASET_DIR (dataset root or a gtpbd-mm / farmseg-vl folder). Multi-GPU: torchrun."""
    from farmannot.train.data import resolve_dataset
    from farmannot.train.run_folder import prepare_run_folder
    from farmannot.train.trainer import train

    cfg = TrainConfig(dataset=str(dataset_dir), model=model, encoder=encoder, encoder_weights=encoder_weights,
                      inputs=inputs, text_fusion=text_fusion, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, warmup=warmup, seed=seed, device=device, amp=amp,
                      workers=workers, augment=augment, arch_kwargs=arch_options(model, encoder_depth),
                      sam_checkpoint=sam_checkpoint, clip_checkpoint=clip_checkpoint, clip_model=clip_model,
                      clip_quick_gelu=clip_quick_gelu, sam_image_size=sam_image_size,
                      freeze=[f for f in freeze if f != "none"] if freeze else None, class_names=class_names)
    resolve_dataset(cfg.dataset)  # a bad dataset is reported before anything touches the run folder
    if int(os.environ.get("RANK", "0")) == 0:  # torchrun: rank 0 owns the run folder
        for p in prepare_run_folder(output, resume, overwrite):
            click.echo(f"note: --overwrite: removed {p}", err=True)
    summary = train(cfg, output, resume=resume, progress=progress)
    if summary["world_size"] == 1 or int(os.environ.get("RANK", "0")) == 0:
        last = summary["last"]
        msg = f"trained {summary['epochs']} epoch(s) -> {output}"
        if "val_IoU" in last:
            msg += f"; best val IoU {summary['best']:.3f} (epoch {summary['best_epoch']})"
        click.echo(msg, err=True)
