"""How a SAM click and an embedding share the cores: the thread budget and the decoder's thread choice.

:class:`ThreadBudget` says how many threads a click keeps while an embedding is computed beside it and how
many it may use when none is; :class:`FasterThreads` picks, among the thread counts a click may use, the one
whose recent clicks were fastest; :func:`torch_threads` sets torch's threads for a block.
"""

from __future__ import annotations

import os
import statistics
import threading
from collections import deque
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: The most onnxruntime threads a click gets when no embedding is computed: the decoder is small (one
#: 64 x 64 grid), 2 threads made it 1.8x faster than 1 (docs/BENCHMARKS.md); more was not measured.
IDLE_CLICK_THREADS_MAX = 4


@dataclass(frozen=True)
class ThreadBudget:
    """How the cores are shared between a click and an embedding computed at the same time.

    While an embedding is computed (the next image in the background, while the annotator clicks on this
    one), a click (onnxruntime's decoder) keeps ``click`` threads and a background embedding runs torch on
    the rest, so the two never fight over the same cores. When no embedding is computed the click may use the
    cores (``idle_click``: up to :data:`IDLE_CLICK_THREADS_MAX`; the decoder runs on as many of them as were
    faster lately, :class:`FasterThreads`). An embedding the annotator waits for
    uses every core.
    """

    total: int
    click: int

    @classmethod
    def for_machine(cls, total: int | None = None) -> ThreadBudget:
        total = total or available_cores()
        # one thread below 4 cores beside an embedding (measured: two threads on 2 busy cores were slower)
        return cls(total, 1 if total < 4 else 2)

    @property
    def background(self) -> int:
        return max(1, self.total - self.click)

    @property
    def idle_click(self) -> int:
        return max(self.click, min(self.total, IDLE_CLICK_THREADS_MAX))

    def click_threads(self, embedding_running: bool) -> int:
        """A click's threads: the share beside a running embedding, else the idle cores."""
        return self.click if embedding_running else self.idle_click


@contextmanager
def torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` inside the block (process-wide, restored after)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: Every this many clicks that have a choice, the thread count measured least recently runs (load changes).
PROBE_EVERY = 8
#: Runs remembered per thread count (their median decides).
REMEMBERED_RUNS = 3


@dataclass(frozen=True)
class ThreadsChoice:
    """What :meth:`FasterThreads.choose` picked for one click, handed back to :meth:`FasterThreads.record`.

    ``threads`` runs the click; ``probe_median`` is the chosen count's median when the click probes another
    count (else ``None``); ``counted`` whether the click's time can say anything (more than one count fitted).
    """

    threads: int
    probe_median: float | None
    counted: bool
    ticket: int


class FasterThreads:
    """Which of the decoder's thread counts runs a click: the one whose recent clicks were fastest.

    More threads are faster on idle cores and slower on cores other programs keep busy (``bench_click.py``:
    2 threads 1.8x faster than 1 on 2 quiet cores, slower with a load of 5), which a click cannot know
    beforehand. So a click that may use more than one count (``limit``) runs on the count whose last
    :data:`REMEMBERED_RUNS` runs had the lowest median, each count is tried once first (the most threads
    first), and every :data:`PROBE_EVERY`-th such click runs the count measured least recently; a probe
    faster than the chosen count's median starts that count's record afresh (the load has changed), so the
    next click takes it. Not recorded, as their times say nothing about the choice: clicks with one count to
    run on (beside an embedding), a click that ran while another click ran, and a click whose caller drops
    its time (an embedding started or ended while it ran: ``record(choice, None)``).

    Each :meth:`choose` returns a :class:`ThreadsChoice` that its click hands back to :meth:`record`, so clicks
    running at once keep their own choice (a probe among them).
    """

    def __init__(self, counts: Iterable[int]) -> None:
        self.counts = tuple(sorted(set(counts)))
        self._recent = {n: deque(maxlen=REMEMBERED_RUNS) for n in self.counts}
        self._measured_at = dict.fromkeys(self.counts, -1)
        self._choices = 0
        self._tickets = 0
        self._running: set[int] = set()  # tickets of the clicks chosen and not yet recorded
        self._overlapped: set[int] = set()  # those of them that ran beside another click
        self._lock = threading.Lock()

    def fitting(self, limit: int | None) -> list[int]:
        """The counts a click may run on under ``limit`` (``None``: the fewest)."""
        return [n for n in self.counts if limit is not None and n <= limit] or [self.counts[0]]

    def _median(self, n: int) -> float:
        return statistics.median(self._recent[n])

    def choose(self, limit: int | None) -> ThreadsChoice:
        """The thread count for a click that may use up to ``limit`` threads; hand the result to :meth:`record`."""
        fits = self.fitting(limit)
        with self._lock:
            self._tickets += 1
            ticket = self._tickets
            if self._running:
                self._overlapped.update(self._running)
                self._overlapped.add(ticket)
            self._running.add(ticket)
            if len(fits) == 1:
                return ThreadsChoice(fits[0], None, False, ticket)
            self._choices += 1
            untried = [n for n in fits if not self._recent[n]]
            if untried:
                return ThreadsChoice(max(untried), None, True, ticket)
            best = min(fits, key=lambda n: (self._median(n), -n))
            if self._choices % PROBE_EVERY == 0:
                probe = min(fits, key=lambda n: self._measured_at[n])
                if probe != best:
                    return ThreadsChoice(probe, self._median(best), True, ticket)
            return ThreadsChoice(best, None, True, ticket)

    def record(self, choice: ThreadsChoice, seconds: float | None) -> None:
        """The click of ``choice`` took ``seconds`` (``None``: it ended without a time that counts)."""
        with self._lock:
            self._running.discard(choice.ticket)
            overlapped = choice.ticket in self._overlapped
            self._overlapped.discard(choice.ticket)
            if seconds is None or overlapped or not choice.counted:
                return
            n = choice.threads
            if choice.probe_median is not None and seconds < choice.probe_median:
                self._recent[n].clear()
            self._recent[n].append(seconds)
            self._measured_at[n] = self._choices
