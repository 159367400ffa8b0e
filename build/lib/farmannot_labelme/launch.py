"""Start labelme's own application (all of its command-line options) with farmannot's window."""

from __future__ import annotations

import functools
import sys

from farmannot_labelme.window import AnnotateOptions, FarmannotMainWindow


def launch(labelme_args: list[str], options: AnnotateOptions) -> None:
    """Run ``labelme`` with ``labelme_args``; its window is :class:`FarmannotMainWindow` with ``options``.

    labelme's ``main()`` parses its options, sets up logging, translations and the Qt application, then
    builds ``labelme.__main__.MainWindow``: that one name is pointed at farmannot's window for this run.
    """
    import labelme.__main__ as labelme_main

    options.install_excepthook = True
    labelme_main.MainWindow = functools.partial(FarmannotMainWindow, farmannot=options)
    sys.argv = ["farmannot annotate", *labelme_args]
    labelme_main.main()
