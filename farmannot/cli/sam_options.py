"""Options shared by the SAM commands (annotate, precompute-embeddings, propose): checkpoint, model, cache,
chips, and how rasters are displayed."""

from __future__ import annotations

import click

from farmannot.cli.options import sensor_option, shared_option, torch_device_option
from farmannot.errors import FarmannotError


@shared_option
def sam_checkpoint_option(help="SAM 2.1 or SAM checkpoint, e.g. sam2.1_hiera_tiny.pt (fast on a CPU) or "
                               "sam_vit_b_01ec64.pth (default $FARMANNOT_SAM_CHECKPOINT)."):
    return click.option("--sam-checkpoint", type=click.Path(dir_okay=False), default=None, help=help)


@shared_option
def sam_model_option(help="Check the checkpoint is this model (default: read off the weights)."):
    """``--sam-model``: the models of the SAM registry (:data:`farmannot.sam.registry.MODEL_NAMES`)."""
    from farmannot.sam.registry import MODEL_NAMES

    return click.option("--sam-model", type=click.Choice(MODEL_NAMES), default=None, help=help)


@shared_option
def cache_dir_option(help="Embedding cache folder (default $FARMANNOT_SAM_CACHE or "
                          "~/.cache/farmannot/sam-embeddings)."):
    return click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help=help)


def sam_options(f):
    """The SAM flags ``annotate`` and ``precompute-embeddings`` share."""
    f = cache_dir_option(f)
    f = torch_device_option(f, help="Torch device: cpu, cuda, cuda:1 ...")
    f = sam_model_option(f)
    return sam_checkpoint_option(f)


@shared_option
def chip_option(help="Chip size in scene pixels (native resolution)."):
    """``--chip``: SAM's chip edge (:data:`farmannot.sam.chips.CHIP_SIZE`)."""
    from farmannot.sam.chips import CHIP_SIZE

    return click.option("--chip", type=click.IntRange(64, None), default=CHIP_SIZE, show_default=True, help=help)


@shared_option
def chip_overlap_option(help=None):
    """``--overlap`` of the SAM chips (:data:`farmannot.sam.chips.CHIP_OVERLAP`)."""
    from farmannot.sam.chips import CHIP_OVERLAP

    return click.option("--overlap", type=click.IntRange(0, None), default=CHIP_OVERLAP, show_default=True,
                        help=help)


def display_options(f):
    """How rasters are rendered for the annotator and SAM (must match between the two commands)."""
    from typing import get_args

    from farmannot.sam.imagery import StretchMode

    f = click.option("--stretch", type=click.Choice(get_args(StretchMode)), default="auto", show_default=True,
                     help="auto: scene-wide 2-98 % stretch except for 8-bit rasters.")(f)
    f = click.option("--display-bands", default=None, metavar="R,G,B",
                     help="1-based bands shown as red, green, blue (default: true colour from the band map).")(f)
    return sensor_option(f)


def parse_display_bands(text: str | None) -> list[int] | None:
    """``"4,3,2"`` -> ``[4, 3, 2]``; one number shows that band as gray."""
    if not text:
        return None
    try:
        bands = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise FarmannotError(f"--display-bands: expected band numbers like 3,2,1, got {text!r}") from None
    if len(bands) not in (1, 3) or min(bands) < 1:
        raise FarmannotError(f"--display-bands: give 1 or 3 band numbers (1-based), got {text!r}")
    return bands
