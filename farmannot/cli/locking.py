"""``@locks_output``: a command holds the lock of its output for its whole run (see :mod:`farmannot.io.lock`)."""

from __future__ import annotations

import functools
import os

import click

from farmannot.io.lock import output_lock


def locks_output(command: str, param: str = "output", folder: bool = True):
    """Decorate a click command function (below its options) to run under the lock of its ``param`` output.

    Under torchrun only rank 0 takes the lock: the ranks of one run share the folder.
    """
    def decorate(f):
        @functools.wraps(f)
        def run_locked(*args, **kwargs):
            target = kwargs.get(param)
            if target is None or int(os.environ.get("RANK", "0")) != 0:
                return f(*args, **kwargs)
            with output_lock(target, f"farmannot {command}", folder=folder, echo=lambda m: click.echo(m, err=True)):
                return f(*args, **kwargs)
        return run_locked
    return decorate
