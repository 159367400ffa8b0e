"""The ``farmannot`` command group: every subcommand is registered here, once, and loaded lazily.

Lazy loading keeps ``farmannot --help`` and light commands fast: torch, Qt and SAM are only imported by
the subcommands that need them.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import signal
import sys
import threading

import click

from farmannot import __version__
from farmannot.cli.errors import failure_line

# name -> module under farmannot.cli defining a click command called ``command``.
COMMANDS: dict[str, str] = {
    "prompts": "prompts",
    "caption": "caption",
    "align-dem": "align_dem",
    "build-dataset": "build_dataset",
    "annotate": "annotate",
    "precompute-embeddings": "precompute_embeddings",
    "train": "train",
    "evaluate": "evaluate",
    "audit": "audit",
    "import-vectors": "import_vectors",
    "export-vectors": "export_vectors",
    "propose": "propose",
    "predict": "predict",
    "info": "info",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [
            name
            for name, mod in COMMANDS.items()
            if importlib.util.find_spec(f"farmannot.cli.{mod}") is not None
        ]
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = COMMANDS.get(name)
        if mod is None or importlib.util.find_spec(f"farmannot.cli.{mod}") is None:
            return None
        return importlib.import_module(f"farmannot.cli.{mod}").command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # the one error path: every failure becomes one line
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            command = ctx.invoked_subcommand or ""
            raise click.ClickException(failure_line(exc, command)) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="farmannot")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """farmannot: farmland segmentation datasets with language, from remote-sensing scenes."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _exit_cleanly_on_sigterm()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: temporary files are removed and the output lock released on the way out."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def main() -> None:  # pragma: no cover - console entry
    cli(obj={})
