"""Options shared by several subcommands, so each flag has one spelling, one default and one help text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from farmannot.errors import FarmannotError
from farmannot.io.atomic import is_temporary
from farmannot.io.windows import TILE_SIZE


def parse_band_map(text: str | None) -> dict[str, int] | None:
    """Parse ``red=3,nir=4`` into ``{'red': 3, 'nir': 4}`` (1-based band numbers as in GDAL)."""
    if not text:
        return None
    out: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise FarmannotError(f"--bands: expected NAME=INDEX pairs like red=3,nir=4, got {part!r}")
        name, _, idx = part.partition("=")
        try:
            band = int(idx)
        except ValueError:
            raise FarmannotError(f"--bands: band number for {name!r} must be an integer, got {idx!r}") from None
        if band < 1:
            raise FarmannotError(f"--bands: band numbers start at 1, got {name}={band}")
        out[name.strip().lower()] = band
    return out


def sensor_option(f):
    from farmannot.io.bands import SENSOR_PRESETS

    return click.option(
        "--sensor",
        type=click.Choice(sorted(SENSOR_PRESETS)),
        default=None,
        help="Band preset of the sensor (auto-detected from band descriptions when omitted).",
    )(f)


def bands_option(f):
    return click.option(
        "--bands",
        default=None,
        metavar="NAME=N,...",
        help="Band map override, 1-based, e.g. red=3,green=2,blue=1,nir=4,swir1=5.",
    )(f)


def tile_size_option(default: int = TILE_SIZE):
    return click.option(
        "--tile-size", type=click.IntRange(16, None), default=default, show_default=True,
        help="Tile edge in pixels.",
    )


def _flag(deco_factory):
    """Let a shared option be used bare (``@keep_going_option``) or with another help (``@keep_going_option(help=...)``)."""

    def option(f=None, **kw):
        deco = deco_factory(**kw)
        return deco if f is None else deco(f)

    option.__doc__ = deco_factory.__doc__
    return option


@_flag
def keep_going_option(help="Go on with the other inputs after a bad one; report failures at the end."):
    """``--keep-going``: a bad input is recorded (see :class:`Failures`) and the batch goes on."""
    return click.option("--keep-going", is_flag=True, help=help)


@_flag
def progress_option(help="Show a progress bar."):
    """``--progress/--no-progress`` (on by default)."""
    return click.option("--progress/--no-progress", default=True, help=help)


# -- training and inference (train, audit, evaluate, predict) ---------------------------------------------


def _train_defaults():
    from farmannot.train.config import TrainConfig

    return TrainConfig()


def model_option(f):
    """``--model``: the catalog's trainable models (:mod:`farmannot.train.models.catalog`)."""
    from farmannot.train.models.catalog import MODEL_NAMES

    return click.option("--model", type=click.Choice(MODEL_NAMES), default=_train_defaults().model,
                        show_default=True)(f)


@_flag
def inputs_option(help=None):
    """``--inputs``: the input settings of the catalog."""
    from farmannot.train.models.catalog import INPUT_SETTINGS

    return click.option("--inputs", type=click.Choice(INPUT_SETTINGS), default=_train_defaults().inputs,
                        show_default=True, help=help)


@_flag
def encoder_option(help=None):
    """``--encoder`` (default: the model's own in the catalog)."""
    return click.option("--encoder", default=None, help=help)


@_flag
def lr_option(help=None):
    return click.option("--lr", type=float, default=_train_defaults().lr, show_default=True, help=help)


@_flag
def encoder_depth_option(help=None):
    return click.option("--encoder-depth", type=click.IntRange(3, 5), default=None, help=help)


@_flag
def train_device_option(help=None):
    """``--device auto|cpu|cuda`` of the training side (``auto``: CUDA when available)."""
    from farmannot.train.config import DEVICES

    return click.option("--device", type=click.Choice(DEVICES), default=_train_defaults().device,
                        show_default=True, help=help)


@_flag
def torch_device_option(help="cpu or cuda."):
    """``--device`` naming a torch device (``cpu`` by default)."""
    return click.option("--device", default="cpu", show_default=True, help=help)


@_flag
def amp_option(help="Mixed precision (CUDA only)."):
    return click.option("--amp", is_flag=True, help=help)


@_flag
def workers_option(help=None):
    """``--workers``: data-loading processes (default: as the device suits)."""
    return click.option("--workers", type=click.IntRange(0, None), default=None, help=help)


@_flag
def batch_size_option(default: int | None = None, help=None):
    return click.option("--batch-size", type=click.IntRange(1, None),
                        default=_train_defaults().batch_size if default is None else default, show_default=True,
                        help=help)


def seed_option(f):
    return click.option("--seed", type=int, default=_train_defaults().seed, show_default=True)(f)


# -- SAM (annotate, precompute-embeddings, propose) -------------------------------------------------------


@_flag
def sam_checkpoint_option(help="SAM 2.1 or SAM checkpoint, e.g. sam2.1_hiera_tiny.pt (fast on a CPU) or "
                               "sam_vit_b_01ec64.pth (default $FARMANNOT_SAM_CHECKPOINT)."):
    return click.option("--sam-checkpoint", type=click.Path(dir_okay=False), default=None, help=help)


@_flag
def sam_model_option(help="Check the checkpoint is this model (default: read off the weights)."):
    """``--sam-model``: the models of the SAM registry (:data:`farmannot.sam.registry.MODEL_NAMES`)."""
    from farmannot.sam.registry import MODEL_NAMES

    return click.option("--sam-model", type=click.Choice(MODEL_NAMES), default=None, help=help)


@_flag
def cache_dir_option(help="Embedding cache folder (default $FARMANNOT_SAM_CACHE or "
                          "~/.cache/farmannot/sam-embeddings)."):
    return click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help=help)


def sam_options(f):
    """The SAM flags ``annotate`` and ``precompute-embeddings`` share."""
    f = cache_dir_option(f)
    f = torch_device_option(f, help="Torch device: cpu, cuda, cuda:1 ...")
    f = sam_model_option(f)
    return sam_checkpoint_option(f)


@_flag
def chip_option(help="Chip size in scene pixels (native resolution)."):
    """``--chip``: SAM's chip edge (:data:`farmannot.sam.chips.CHIP_SIZE`)."""
    from farmannot.sam.chips import CHIP_SIZE

    return click.option("--chip", type=click.IntRange(64, None), default=CHIP_SIZE, show_default=True, help=help)


@_flag
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


RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".vrt", ".img")


def expand_inputs(inputs: Iterable[str], suffixes: tuple[str, ...] = RASTER_SUFFIXES) -> list[Path]:
    """Files stay as given; folders expand (recursively, sorted) to files with one of ``suffixes``."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in suffixes
                              and not is_temporary(q.name)))  # a write killed mid-way is no input
        elif p.exists():
            out.append(p)
        else:
            raise FarmannotError(f"{p}: no such file or folder; check the path.")
    return out


class Failures:
    """Bad inputs of a batch command: raised at once, or with ``--keep-going`` collected and reported at the end.

    Use ``except Exception as exc: failures.record(path, exc); continue`` in the loop and
    ``failures.report(total)`` after it (exits 1 when anything failed). Any exception is isolated to its
    input (recursion, memory, image bombs, GEOS included); each is one line naming the file, and a bug's
    traceback goes to a file (see :mod:`farmannot.cli.errors`).
    """

    def __init__(self, keep_going: bool, command: str = "") -> None:
        self.keep_going = keep_going
        self.command = command
        self.items: list[tuple[str, str]] = []

    def record(self, path, exc: BaseException) -> None:
        from farmannot.cli.errors import failure_line
        from farmannot.errors import note_input

        if not isinstance(exc, Exception) or isinstance(exc, click.ClickException):
            raise exc  # Ctrl-C, exit, a bad option: never one input's failure
        if not self.keep_going:
            raise note_input(exc, path)
        line = failure_line(exc, self.command, path)
        self.items.append((str(path), line))
        click.echo(f"error: {line}", err=True)

    def __len__(self) -> int:
        return len(self.items)

    def write(self, path) -> None:
        """Write the failures as JSON (``[{"file", "reason"}]``) to ``path``; remove it when there are none."""
        from farmannot.io.atomic import write_json

        p = Path(path)
        if self.items:
            write_json(p, [{"file": f, "reason": r} for f, r in self.items])
        elif p.exists():
            p.unlink()

    def report(self, total: int, noun: str = "input(s)") -> None:
        if not self.items:
            return
        click.echo(f"{len(self.items)} of {total} {noun} failed:", err=True)
        for _path, line in self.items:
            click.echo(f"  {line}", err=True)
        raise SystemExit(1)
