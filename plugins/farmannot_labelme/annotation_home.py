"""Where an annotation lives: the one answer for opening, Save and labelme's autosave.

labelme keeps an annotation beside its image (``scenes/NAME.json``) or in ``--output DIR``. A farmannot
project keeps them apart: ``PROJECT/scenes/`` holds the rasters, ``PROJECT/annotations/`` the labelme files
build-dataset reads, each naming its scene by ``imagePath`` (:mod:`farmannot.dataset.project`). This module
decides, without Qt:

- an image of a project's ``scenes/`` opens with the project's annotation of that scene, and is saved there
  (``annotations/STEM.json`` when it has none yet); nothing is written beside the scenes;
- an annotation file inside ``annotations/`` is saved where it is;
- a labelme file *outside* the project that points at a project scene (drafts from ``predict --polygons`` or
  ``propose``, a stray ``scenes/NAME.json``) opens together with the project's annotation of the scene: its
  shapes are added to the project's (the ones already there, same label and vertices, are not added again),
  and saving writes the project's annotation; the drafts file is left as it is;
- anything else follows labelme (``--output DIR``, else beside the image).

A folder is a project when it has ``scenes/`` and ``annotations/`` or ``scenes.csv``; an image whose folder is
named ``scenes`` inside such a folder belongs to it, whether or not the project was named on the command line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

SCENES, ANNOTATIONS, SCENES_CSV = "scenes", "annotations", "scenes.csv"
LABEL_SUFFIX = ".json"


def is_project(folder: str | os.PathLike) -> bool:
    """``folder`` has ``scenes/`` and ``annotations/`` or ``scenes.csv`` (the layout build-dataset reads)."""
    p = Path(folder)
    return (p / SCENES).is_dir() and ((p / ANNOTATIONS).is_dir() or (p / SCENES_CSV).is_file())


def image_of(label_path: str | os.PathLike) -> Path | None:
    """The image a labelme file names (``imagePath`` relative to the file), or ``None`` if unreadable."""
    try:
        with open(label_path, encoding="utf-8") as fh:
            raw = json.load(fh)
        rel = raw["imagePath"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(rel, str) or not rel:
        return None
    return (Path(label_path).parent / PureWindowsPath(rel).as_posix()).resolve()


def read_shapes(label_path: str | os.PathLike) -> list[dict]:
    with open(label_path, encoding="utf-8") as fh:
        return [dict(s) for s in (json.load(fh).get("shapes") or []) if isinstance(s, dict)]


def _shape_key(d: dict) -> tuple:
    pts = tuple((round(float(x), 3), round(float(y), 3)) for x, y in (d.get("points") or []))
    return d.get("label"), d.get("shape_type") or "polygon", pts


def new_shapes(shapes: list[dict], existing: list[dict]) -> list[dict]:
    """``shapes`` without those already in ``existing`` (same label, type and vertices)."""
    have = {_shape_key(d) for d in existing}
    return [d for d in shapes if _shape_key(d) not in have]


@dataclass
class OpenPlan:
    """What to open for a path the annotator chose, and where saving goes.

    ``open``: the image or label file labelme loads; ``save_to``: the annotation Save and autosave write
    (``None``: labelme's rule); ``extra_shapes``: shape dicts added to the loaded ones (drafts from another
    file); ``drafts_from``: that file.
    """

    open: str
    save_to: str | None = None
    extra_shapes: list[dict] = field(default_factory=list)
    drafts_from: str | None = None


class AnnotationHome:
    """Decides where the annotation of an image lives (see the module text).

    Args:
        project: a project folder named on the command line (``annotate PROJECT``, ``--suspects``); other
            projects are recognised by their layout.
        output_dir: labelme's ``--output`` (used outside projects).
    """

    def __init__(self, project: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None):
        self.project = Path(project).resolve() if project else None
        self.output_dir = Path(output_dir) if output_dir else None
        self._index: dict[Path, tuple[float, Path | None]] = {}  # annotation -> (mtime, its scene)

    # -- projects -----------------------------------------------------------------------------------------

    def project_of(self, image: str | os.PathLike) -> Path | None:
        """The project whose ``scenes/`` holds ``image``, or ``None``."""
        img = Path(image).resolve()
        if self.project is not None and img.is_relative_to(self.project / SCENES):
            return self.project
        if img.parent.name == SCENES and is_project(img.parent.parent):
            return img.parent.parent
        return None

    def _annotations(self, project: Path) -> dict[Path, Path | None]:
        """``annotations/*.json`` -> the scene each names (files re-read only when changed)."""
        out = {}
        folder = project / ANNOTATIONS
        for f in sorted(folder.glob(f"*{LABEL_SUFFIX}")) if folder.is_dir() else []:
            try:
                mtime = f.stat().st_mtime
            except OSError:
                continue
            cached = self._index.get(f)
            if cached is None or cached[0] != mtime:
                cached = (mtime, image_of(f))
                self._index[f] = cached
            out[f] = cached[1]
        return out

    def project_annotation(self, image: str | os.PathLike) -> Path | None:
        """The existing annotation in the image's project that names it, or ``None``."""
        project = self.project_of(image)
        if project is None:
            return None
        img = Path(image).resolve()
        for f, scene in self._annotations(project).items():
            if scene == img:
                return f
        return None

    def new_annotation_path(self, image: str | os.PathLike) -> Path:
        """Where a project scene without an annotation gets one: ``annotations/STEM.json`` (a free name)."""
        project = self.project_of(image)
        assert project is not None
        stem = Path(image).stem
        taken = self._annotations(project)
        for k in range(1000):
            p = project / ANNOTATIONS / (f"{stem}{LABEL_SUFFIX}" if k == 0 else f"{stem}-{k}{LABEL_SUFFIX}")
            if p not in taken and not p.exists():
                return p
        raise OSError(f"{project / ANNOTATIONS}: no free annotation name for {stem}")

    def save_path(self, image: str | os.PathLike) -> str:
        """Where the annotation of ``image`` is saved when no label file was opened for it."""
        if self.project_of(image) is not None:
            return str(self.project_annotation(image) or self.new_annotation_path(image))
        img = Path(image)
        parent = self.output_dir if self.output_dir is not None else img.parent
        return str(parent / f"{img.stem}{LABEL_SUFFIX}")

    def has_annotation(self, image: str | os.PathLike) -> bool:
        return Path(self.save_path(image)).is_file()

    # -- opening ------------------------------------------------------------------------------------------

    def plan(self, path: str | os.PathLike) -> OpenPlan:
        """What to load when the annotator opens ``path`` (an image or a labelme file)."""
        path = str(path)
        if not path.lower().endswith(LABEL_SUFFIX):  # an image
            if self.project_of(path) is None:
                return OpenPlan(open=path)
            ann = self.project_annotation(path)
            # no project annotation yet: labelme may still find one beside the image (kept, saved to the project)
            return OpenPlan(open=str(ann) if ann else path, save_to=str(ann or self.new_annotation_path(path)))
        image = image_of(path)
        project = self.project_of(image) if image is not None else None
        if project is None:
            return OpenPlan(open=path)
        label = Path(path).resolve()
        if label.parent == project / ANNOTATIONS:
            return OpenPlan(open=path, save_to=path)
        ann = self.project_annotation(image)
        if ann is None:  # the project gets its first annotation of this scene from this file
            return OpenPlan(open=path, save_to=str(self.new_annotation_path(image)), drafts_from=path)
        try:
            extra = new_shapes(read_shapes(path), read_shapes(ann))
        except (OSError, ValueError):
            extra = []
        return OpenPlan(open=str(ann), save_to=str(ann), extra_shapes=extra, drafts_from=path)
