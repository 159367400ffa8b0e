"""Scenes as work units on an executor (a local process pool or a Dask client).

Each scene is one preparing task (:func:`farmannot.dataset.scene.prepare_scene`: resume check, the annotation
read once and planned, stretch, DEM registration), then one task per work unit
(:func:`farmannot.dataset.scene.build_unit`, carrying only the unit's shapes), then finished here
(:func:`farmannot.dataset.scene.finish_scene`) when its last unit is back. A few scenes are open at a time
(``window``), so the units of one large scene fill every worker while this process holds the plans of only
those scenes. Results come back per scene, in the order scenes finish; the build writes them in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from farmannot.dataset.config import BuildConfig
from farmannot.dataset.project import SceneJob
from farmannot.dataset.scene import ScenePrep, SceneResult, UnitResult, build_unit, finish_scene, prepare_scene


@dataclass
class _Open:
    job: SceneJob
    prep: ScenePrep | None = None
    results: list[UnitResult | None] = field(default_factory=list)
    left: int = 0


class SceneUnits:
    """Run scenes unit by unit through ``submit(fn, *args) -> future``.

    Args:
        exception_of: The exception of a finished future, or ``None`` when it succeeded.
        window: How many scenes may be open (prepared or being built) at once.
    """

    def __init__(self, jobs: list[SceneJob], cfg: BuildConfig, out: str, submit: Callable[..., Any],
                 exception_of: Callable[[Any], BaseException | None], window: int) -> None:
        self.todo = list(jobs)
        self.cfg, self.out, self.submit, self.exception_of = cfg, out, submit, exception_of
        self.window = max(1, window)
        self.open: dict[str, _Open] = {}
        self.tasks: dict[Any, tuple[str, str, int]] = {}

    def _task(self, kind: str, job: SceneJob, k: int, fn, *args) -> None:
        self.tasks[self.submit(fn, job, self.cfg, self.out, *args)] = (kind, job.name, k)

    def _close(self, name: str) -> None:
        self.open.pop(name, None)
        for fut, tag in list(self.tasks.items()):
            if tag[1] == name:
                fut.cancel()
                del self.tasks[fut]

    def _advance(self, st: _Open, kind: str, k: int, result: Any) -> SceneResult | None:
        """The scene's result once it is finished, else ``None`` (its units submitted or one more back)."""
        if kind == "prep":
            if isinstance(result, SceneResult):  # resumed: nothing to build
                return result
            st.prep, st.results, st.left = result, [None] * len(result.units), len(result.units)
            for i, (unit, plan) in enumerate(zip(result.units, result.plans)):
                self._task("unit", st.job, i, build_unit, result.shared, unit, plan)
            result.plans = []  # handed to the units: not held here
        else:
            st.results[k] = result
            st.left -= 1
        if st.left == 0:
            return finish_scene(st.job, self.out, st.prep, st.results)
        return None

    def run(self, wait_first: Callable[[list], Iterable]) -> Iterator[tuple[SceneJob, Any]]:
        """Yield ``(job, SceneResult or exception)`` as scenes finish; ``wait_first(futures)`` returns the
        futures that are done (at least one)."""
        while self.todo or self.open:
            while self.todo and len(self.open) < self.window:
                job = self.todo.pop(0)
                self.open[job.name] = _Open(job)
                try:
                    self._task("prep", job, 0, prepare_scene)
                except Exception as exc:  # noqa: BLE001 - a broken executor: the caller classifies it
                    self._close(job.name)
                    yield job, exc
            if not self.tasks:
                continue
            for fut in wait_first(list(self.tasks)):
                tag = self.tasks.pop(fut, None)
                if tag is None or tag[1] not in self.open:
                    continue  # its scene already failed
                kind, name, k = tag
                st = self.open[name]
                exc = self.exception_of(fut)
                done = None
                if exc is None:
                    try:
                        done = self._advance(st, kind, k, fut.result())
                    except Exception as e:  # noqa: BLE001 - submitting to a broken executor, finishing
                        exc = e
                if exc is not None:
                    self._close(name)
                    yield st.job, exc
                elif done is not None:
                    self._close(name)
                    yield st.job, done

    def cancel(self) -> None:
        """Cancel every task still queued."""
        for fut in self.tasks:
            fut.cancel()
        self.tasks.clear()
