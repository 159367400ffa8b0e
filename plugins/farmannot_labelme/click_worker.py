"""SAM clicks off the GUI thread: the prompt's mask and its polygons are made on a worker thread.

labelme runs a click's inference synchronously, twice: for the preview of every repaint while AI points are
being placed, and when the shape is finished. With real-sized masks (SAM's decoder upsampling to the whole
image, tracing, cutting back against the fields drawn) that blocked the window for 0.4-2.2 s per click.

:class:`ClickWorker` keeps the results of prompts by key (image, points, labels, the shapes drawn): the preview
asks for the points placed so far and shows the field once the worker has it (never blocking); finishing a
shape whose result is not there yet starts it and finishes the shape when it arrives, so the window stays
responsive. One worker thread: prompts run in the order given.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor

from PyQt5 import QtCore

log = logging.getLogger(__name__)
KEEP = 32  # results kept (the points of one field being refined, a few fields back)


class ClickWorker(QtCore.QObject):
    """Results of SAM prompts computed on one worker thread, delivered on the GUI thread.

    Args:
        on_result: called on the GUI thread with ``(key, result, wanted_finish)`` when a prompt is done
            (``result`` is an exception when the computation failed).
    """

    _done = QtCore.pyqtSignal(object, object)

    def __init__(self, on_result: Callable[[Hashable, object, bool], None], parent=None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farmannot-click")
        self._results: OrderedDict[Hashable, object] = OrderedDict()
        self._pending: set[Hashable] = set()
        self._finish: Hashable | None = None
        self._closed = False
        self._on_result = on_result
        self._done.connect(self._deliver)  # queued: emitted on the worker thread

    def result(self, key: Hashable):
        """The stored result of ``key`` (``None`` when not computed yet)."""
        return self._results.get(key)

    def has(self, key: Hashable) -> bool:
        return key in self._results

    def pending(self, key: Hashable) -> bool:
        return key in self._pending

    def busy(self) -> bool:
        return bool(self._pending)

    def submit(self, key: Hashable, job: Callable[[], object], finish: bool = False) -> None:
        """Run ``job`` on the worker unless ``key`` is done or running; ``finish``: the shape waits for it."""
        if finish:
            self._finish = key
        if key in self._results or key in self._pending:
            return
        self._pending.add(key)
        future = self._executor.submit(job)
        future.add_done_callback(lambda f, k=key: self._done.emit(k, f))

    def cancel_finish(self) -> bool:
        """Finish no shape when the pending prompt arrives; True when one was waiting to finish."""
        waiting, self._finish = self._finish is not None, None
        return waiting

    def _deliver(self, key: Hashable, future: Future) -> None:
        self._pending.discard(key)
        if self._closed:  # the window has closed: a prompt still running adds no shape (nor saves one)
            return
        try:
            result = future.result()
        except Exception as exc:  # shown by the window, never swallowed
            log.exception("SAM click failed")
            result = exc
        else:
            if result is not None:  # None: nothing to keep (the embedding was not ready); asked again next time
                self._results[key] = result
            while len(self._results) > KEEP:
                self._results.popitem(last=False)
        finish = self._finish == key
        if finish:
            self._finish = None
        self._on_result(key, result, finish)

    def close(self) -> None:
        self._closed, self._finish = True, None
        self._executor.shutdown(wait=False, cancel_futures=True)
