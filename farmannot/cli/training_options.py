"""Options shared by the training and inference commands (train, audit, evaluate, predict): choices from the
model catalog, defaults from :class:`farmannot.train.config.TrainConfig`."""

from __future__ import annotations

import click

from farmannot.cli.options import shared_option


def _train_defaults():
    from farmannot.train.config import TrainConfig

    return TrainConfig()


def model_option(f):
    """``--model``: the catalog's trainable models (:mod:`farmannot.train.models.catalog`)."""
    from farmannot.train.models.catalog import MODEL_NAMES

    return click.option("--model", type=click.Choice(MODEL_NAMES), default=_train_defaults().model,
                        show_default=True)(f)


@shared_option
def inputs_option(help=None):
    """``--inputs``: the input settings of the catalog."""
    from farmannot.train.models.catalog import INPUT_SETTINGS

    return click.option("--inputs", type=click.Choice(INPUT_SETTINGS), default=_train_defaults().inputs,
                        show_default=True, help=help)


@shared_option
def encoder_option(help=None):
    """``--encoder`` (default: the model's own in the catalog)."""
    return click.option("--encoder", default=None, help=help)


@shared_option
def lr_option(help=None):
    return click.option("--lr", type=float, default=_train_defaults().lr, show_default=True, help=help)


@shared_option
def encoder_depth_option(help=None):
    return click.option("--encoder-depth", type=click.IntRange(3, 5), default=None, help=help)


@shared_option
def train_device_option(help=None):
    """``--device auto|cpu|cuda`` of the training side (``auto``: CUDA when available)."""
    from farmannot.train.config import DEVICES

    return click.option("--device", type=click.Choice(DEVICES), default=_train_defaults().device,
                        show_default=True, help=help)


@shared_option
def amp_option(help="Mixed precision (CUDA only)."):
    return click.option("--amp", is_flag=True, help=help)


@shared_option
def workers_option(help=None):
    """``--workers``: data-loading processes (default: as the device suits)."""
    return click.option("--workers", type=click.IntRange(0, None), default=None, help=help)


@shared_option
def batch_size_option(default: int | None = None, help=None):
    return click.option("--batch-size", type=click.IntRange(1, None),
                        default=_train_defaults().batch_size if default is None else default, show_default=True,
                        help=help)


def seed_option(f):
    return click.option("--seed", type=int, default=_train_defaults().seed, show_default=True)(f)
