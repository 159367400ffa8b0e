"""Scenes as work units on an executor (a local process pool or a Dask client).

A scene is first checked for resuming by a task (:func:`farmannot.dataset.records.check_scene`: its
fingerprint, hashing the annotation, and its record's checksums, every recorded file hashed again), several
scenes side by side on the workers; a scene that cannot be resumed is then prepared by two tasks side by side
(:func:`farmannot.dataset.scene.plan_scene`: the annotation read once and planned into work units;
:func:`farmannot.dataset.scene.look_scene`: display stretch, NIR calibration, DEM registration), then built by
one task per work unit (:func:`farmannot.dataset.scene.build_unit`, carrying only its plan's file names), then
finished here (:func:`farmannot.dataset.scene.finish_scene`) when its last unit is back. On an executor that
takes futures as arguments (Dask, ``chain``), a scene's units are submitted with its preparing tasks, once its
resume check is back: each unit gets its own plan's names worker to worker as soon as the plan is done, without
a round trip through this process (measured: docs/BENCHMARKS.md). When both preparing tasks fail, the
annotation's error is the one reported, as in a build on one process. A few scenes are open at a time
(``window``), so the units of one large scene fill every worker while only those scenes' plans wait on disk
(``.farmannot/plans/``, :mod:`farmannot.dataset.units`). Results come back per scene, in the order scenes
finish; the build writes them in a fixed order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from farmannot.dataset.config import BuildConfig
from farmannot.dataset.project import SceneJob
from farmannot.dataset.records import check_scene
from farmannot.dataset.scene import (
    SceneLabels,
    SceneLook,
    ScenePrep,
    SceneResult,
    UnitResult,
    build_unit,
    combine,
    finish_scene,
    look_scene,
    plan_scene,
)
from farmannot.dataset.units import StoredPlan, remove_scene_plans

# the tasks that wire a scene's tasks together on Dask (``chain``), module-level so that they pickle by name


def labels_head(job: SceneJob, cfg: BuildConfig, labels: SceneLabels) -> SceneLabels:
    """``labels`` without the units' plans (a task on the Dask worker that holds them: the plans stay there)."""
    return dataclasses.replace(labels, plans=[])


def prepared(job: SceneJob, cfg: BuildConfig, fp: str, labels: SceneLabels, look: SceneLook) -> ScenePrep:
    """:func:`~farmannot.dataset.scene.combine` of :func:`labels_head` and ``look``: the units' plans go to the
    units directly."""
    return combine(fp, labels, look)


def unit_plan(job: SceneJob, cfg: BuildConfig, labels: SceneLabels, i: int) -> StoredPlan:
    """Unit ``i``'s label plan (a task on the Dask worker that holds the scene's plans: their files' names)."""
    return labels.plans[i]


def prepared_unit(job: SceneJob, cfg: BuildConfig, out_dir: str, prep: ScenePrep, i: int,
                  plan: StoredPlan) -> UnitResult:
    """:func:`~farmannot.dataset.scene.build_unit` for unit ``i`` of a scene prepared by :func:`prepared`."""
    return build_unit(job, cfg, out_dir, prep.shared, prep.units[i], plan)


@dataclass
class _Open:
    job: SceneJob
    fp: str = ""
    halves: dict[str, Any] = field(default_factory=dict)  # "plan" / "look" -> result or exception
    prep: ScenePrep | None = None
    results: list[UnitResult | None] = field(default_factory=list)
    left: int = 0
    failed: BaseException | None = None  # a unit's own error before both halves were seen (chain)
    prepared: bool = False  # both halves back and the units sent (chain)


class SceneUnits:
    """Run scenes unit by unit through ``submit(fn, *args) -> future``.

    Args:
        exception_of: The exception of a finished future, or ``None`` when it succeeded.
        window: How many scenes may be open (prepared or being built) at once.
        chain: ``submit`` takes futures as arguments (Dask): every other task of a scene is submitted at once
            when its resume check comes back (the scene cannot be resumed).
    """

    def __init__(self, jobs: list[SceneJob], cfg: BuildConfig, out: str, submit: Callable[..., Any],
                 exception_of: Callable[[Any], BaseException | None], window: int, chain: bool = False) -> None:
        self.todo = list(jobs)
        self.cfg, self.out, self.submit, self.exception_of = cfg, out, submit, exception_of
        self.window, self.chain = max(1, window), chain
        self.open: dict[str, _Open] = {}
        self.tasks: dict[Any, tuple[str, str, int]] = {}

    def _task(self, kind: str, job: SceneJob, k: int, fn, *args) -> Any:
        fut = self.submit(fn, job, self.cfg, *args)
        if kind:
            self.tasks[fut] = (kind, job.name, k)
        return fut

    def _start(self, job: SceneJob) -> None:
        """Open a scene: its resume check submitted."""
        self.open[job.name] = _Open(job)
        self._task("check", job, 0, check_scene, self.out)

    def _prepare(self, st: _Open, fp: str) -> None:
        """A scene that cannot be resumed: its preparing tasks submitted (with its units, ``chain``)."""
        job = st.job
        st.fp = fp
        plan = self._task("plan", job, 0, plan_scene, self.out)
        look = self._task("look", job, 0, look_scene)
        if self.chain:  # the units wait on the cluster for their plan, not on this process
            head = self._task("", job, 0, labels_head, plan)
            prep = self._task("prep", job, 0, prepared, st.fp, head, look)
            st.results, st.left = [None] * job.n_units, job.n_units
            for i in range(job.n_units):
                self._task("unit", job, i, prepared_unit, self.out, prep, i,
                           self._task("", job, i, unit_plan, plan, i))

    def _close(self, name: str) -> None:
        self.open.pop(name, None)
        for fut, tag in list(self.tasks.items()):
            if tag[1] == name:
                fut.cancel()
                del self.tasks[fut]

    def _advance(self, st: _Open, kind: str, k: int, result: Any) -> SceneResult | None:
        """The scene's result once it is finished, else ``None`` (its units submitted or one more back)."""
        if kind == "check":
            fp, done = result
            if done is None:
                self._prepare(st, fp)
            return done
        if kind in ("plan", "look"):
            st.halves[kind] = result
            if len(st.halves) < 2:
                return None
            for half in ("plan", "look"):  # the annotation's error first, as on one process
                if isinstance(st.halves[half], BaseException):
                    raise st.halves[half]
            if self.chain:
                st.halves.clear()
                st.prepared = True
                if st.failed is not None:
                    raise st.failed
                return None
            prep = combine(st.fp, st.halves.pop("plan"), st.halves.pop("look"))
            st.prep, st.results, st.left = prep, [None] * len(prep.units), len(prep.units)
            for i, (unit, plan) in enumerate(zip(prep.units, prep.plans)):
                self._task("unit", st.job, i, build_unit, self.out, prep.shared, unit, plan)
            prep.plans = []  # handed to the units: not held here
        elif kind == "prep":
            st.prep = result
        else:
            st.results[k] = result
            st.left -= 1
        if st.left == 0 and st.prep is not None:
            return finish_scene(st.job, self.out, st.prep, st.results)
        return None

    def run(self, wait_first: Callable[[list], Iterable]) -> Iterator[tuple[SceneJob, Any]]:
        """Yield ``(job, SceneResult or exception)`` as scenes finish; ``wait_first(futures)`` returns the
        futures that are done (at least one)."""
        while self.todo or self.open:
            while self.todo and len(self.open) < self.window:
                job = self.todo.pop(0)
                try:
                    self._start(job)
                except Exception as exc:  # noqa: BLE001 - a broken executor
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
                if exc is not None and kind in ("plan", "look"):  # decided once both halves are back
                    exc, result = None, exc
                elif exc is not None and kind != "check" and self.chain and not st.prepared:
                    # a unit fails with its preparing task's error (decided above), or failed on its own
                    # before the halves were seen here: reported once they are, if they succeeded
                    st.failed = st.failed or exc
                    continue
                elif exc is None:
                    result = None if self.chain and kind in ("plan", "look") else fut.result()
                if exc is None:
                    try:
                        done = self._advance(st, kind, k, result)
                    except Exception as e:  # noqa: BLE001 - submitting to a broken executor, finishing
                        exc = e
                if exc is not None:
                    self._close(name)
                    remove_scene_plans(self.out, name)  # its units still running stop at their next tile
                    yield st.job, exc
                elif done is not None:
                    self._close(name)
                    yield st.job, done

    def cancel(self) -> None:
        """Cancel every task still queued."""
        for fut in self.tasks:
            fut.cancel()
        self.tasks.clear()
