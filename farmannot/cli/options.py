"""Options shared by several subcommands, so each flag has one spelling, one default and one help text.

Here the generic ones (band map and sensor, tile size, torch device, progress, ``--keep-going`` with its
:class:`Failures`, and the inputs of batch commands); the training and inference group is in
:mod:`farmannot.cli.training_options`, the SAM and display group in :mod:`farmannot.cli.sam_options`.
"""

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


def shared_option(deco_factory):
    """Let a shared option be used bare (``@keep_going_option``) or with another help (``@keep_going_option(help=...)``)."""

    def option(f=None, **kw):
        deco = deco_factory(**kw)
        return deco if f is None else deco(f)

    option.__doc__ = deco_factory.__doc__
    return option


@shared_option
def keep_going_option(help="Go on with the other inputs after a bad one; report failures at the end."):
    """``--keep-going``: a bad input is recorded (see :class:`Failures`) and the batch goes on."""
    return click.option("--keep-going", is_flag=True, help=help)


@shared_option
def progress_option(help="Show a progress bar."):
    """``--progress/--no-progress`` (on by default)."""
    return click.option("--progress/--no-progress", default=True, help=help)


@shared_option
def torch_device_option(help="cpu or cuda."):
    """``--device`` naming a torch device (``cpu`` by default)."""
    return click.option("--device", default="cpu", show_default=True, help=help)


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
