"""Every build option in one place, with its default; a YAML file may set any of them, flags override."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from farmannot.dataset.layouts import NAMES
from farmannot.errors import FarmannotError, InputError
from farmannot.io.windows import TILE_SIZE

LAYOUTS = NAMES


@dataclass
class BuildConfig:
    """Options of ``farmannot build-dataset`` (YAML keys are these names; dashes or underscores both work).

    Attributes:
        tile_size: Tile edge in pixels.
        overlap: Pixels shared by neighbouring tiles.
        layouts: Output layouts among :data:`LAYOUTS`.
        split: Train:val:test weights.
        group_by: scenes.csv column whose groups never span two splits (``region``; ``scene`` also works), or
            ``block``: spatial blocks of ``block_tiles`` x ``block_tiles`` tiles, each scene's blocks split
            by the ratio on their own, so every split has tiles of every large enough scene.
        block_tiles: Block edge in tiles for ``group_by: block``.
        block_buffer: With ``group_by: block``, leave out train tiles within this many tiles (8-neighbourhood
            steps) of a val or test tile, so the model is not trained right next to the ground it is scored on.
        split_tolerance: Largest allowed gap between a split's achieved and requested share of tiles.
        seed: Seed of the split (ties between equally good assignments).
        label_map: labelme label -> mask value (1..254); ``__ignore__`` -> 255, ``_background_`` -> 0 always.
        boundary_width: Boundary thickness in pixels, inside each parcel.
        max_nodata: Drop tiles whose nodata share is above this (1.0 keeps all).
        min_farmland: Drop tiles whose farmland share is below this (0.0 keeps all).
        geotiff: Also write each tile as a GeoTIFF with all bands and georeferencing (gtpbd-mm ``image_tif``).
        sensor: Band preset for every scene (scenes.csv ``sensor`` overrides per scene).
        spie_format: ``spex`` (released demo text) or ``json``.
        spie_bbox: ``axis`` (paper) or ``rotated`` boxes.
        spie_labels: SPIE category -> the annotation labels that are its ground truth (the binary
            ``gt_image`` SPEX trains on); a category none of whose labels is in ``label_map`` gets no record.
        dem_resampling: Resampling of the DEM onto each tile.
        dem_register: Register each scene's DEM to its image as ``align-dem`` does (the shift is reported
            per scene) before it is cut into tiles.
        workers: Local worker processes (scenes run in parallel).
        dask_scheduler: Address of a Dask distributed scheduler; scenes then run on that cluster.
        dask_timeout_s: Seconds to wait for the scheduler to answer.
        keep_going: Report a bad scene in errors.json and go on.
        card: Write DATASET_CARD.md with plots.
    """

    tile_size: int = TILE_SIZE
    overlap: int = 0
    layouts: tuple[str, ...] = LAYOUTS
    split: tuple[float, float, float] = (7.0, 2.0, 1.0)
    group_by: str = "region"
    block_tiles: int = 2
    block_buffer: int = 0
    split_tolerance: float = 0.15
    seed: int = 0
    label_map: dict[str, int] = field(default_factory=lambda: {"farmland": 1})
    boundary_width: int = 1
    max_nodata: float = 1.0
    min_farmland: float = 0.0
    geotiff: bool = False
    sensor: str | None = None
    spie_format: str = "spex"
    spie_bbox: str = "axis"
    spie_labels: dict[str, list[str]] = field(default_factory=lambda: {
        "vegetation": ["farmland", "vegetation"], "water": ["water"], "building": ["building"]})
    dem_resampling: str = "bilinear"
    dem_register: bool = True
    workers: int = 1
    dask_scheduler: str | None = None
    dask_timeout_s: float = 30.0
    keep_going: bool = False
    card: bool = True

    def validate(self) -> "BuildConfig":
        if self.tile_size < 16:
            raise FarmannotError(f"tile_size must be at least 16 px, got {self.tile_size}.")
        if not 0 <= self.overlap < self.tile_size:
            raise FarmannotError(f"overlap must be in [0, tile_size), got {self.overlap}.")
        bad = [x for x in self.layouts if x not in LAYOUTS]
        if bad or not self.layouts:
            raise FarmannotError(f"layout {bad or '(none)'} unknown; choose from {', '.join(LAYOUTS)}.")
        if len(self.split) != 3 or any(v < 0 for v in self.split) or sum(self.split) <= 0:
            raise FarmannotError(f"split must be three non-negative weights like 7:2:1, got {self.split}.")
        for k, v in self.label_map.items():
            if not isinstance(v, int) or not 1 <= v <= 254:
                raise FarmannotError(f"label_map: value of {k!r} must be an integer 1..254, got {v!r}.")
        if self.boundary_width < 1:
            raise FarmannotError("boundary_width must be at least 1.")
        if self.spie_format not in ("spex", "json") or self.spie_bbox not in ("axis", "rotated"):
            raise FarmannotError("spie_format must be spex or json and spie_bbox axis or rotated.")
        bad_cats = [c for c in self.spie_labels if c not in ("vegetation", "water", "building")]
        if bad_cats or not all(isinstance(v, list) for v in self.spie_labels.values()):
            raise FarmannotError(f"spie_labels: categories are vegetation, water, building, each with a list of "
                                 f"labels; got {self.spie_labels!r}.")
        if self.workers < 1:
            raise FarmannotError("workers must be at least 1.")
        if self.block_tiles < 1:
            raise FarmannotError(f"block_tiles must be at least 1, got {self.block_tiles}.")
        if self.block_buffer < 0:
            raise FarmannotError(f"block_buffer must be 0 or more tiles, got {self.block_buffer}.")
        if self.group_by == "block" and self.overlap:
            raise FarmannotError(f"group_by block needs overlap 0 (got {self.overlap} px): overlapping tiles of "
                                 "neighbouring blocks would share pixels across splits.")
        return self

    def fingerprint(self) -> dict[str, Any]:
        """The options that change output bytes (not how the work is run)."""
        d = dataclasses.asdict(self)
        for k in ("workers", "dask_scheduler", "dask_timeout_s", "keep_going", "card"):
            d.pop(k)
        d["layouts"] = sorted(d["layouts"])
        return d


def parse_split(text: str | list | tuple) -> tuple[float, float, float]:
    """``"7:2:1"`` (or a list) -> ``(7.0, 2.0, 1.0)``."""
    if isinstance(text, int) and not isinstance(text, bool):
        raise FarmannotError(f"split: got the number {text}, as YAML reads an unquoted 7:2:1 (a base-60 number); "
                             "write it quoted, split: \"7:2:1\", or as a list, split: [7, 2, 1].")
    parts = text if isinstance(text, (list, tuple)) else str(text).replace(",", ":").split(":")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise FarmannotError(f"--split: expected weights like 7:2:1, got {text!r}.") from None
    if len(vals) != 3:
        raise FarmannotError(f"--split: expected three weights train:val:test, got {text!r}.")
    return vals  # type: ignore[return-value]


def parse_layouts(text: str | list | tuple) -> tuple[str, ...]:
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(dict.fromkeys(s.strip() for s in items if s.strip()))


def _check_types(values: dict[str, Any], where: str) -> None:
    """Each option has the type of its default (an int may stand for a float), else one clear line."""
    defaults = BuildConfig()
    for key, v in values.items():
        d = getattr(defaults, key)
        if key in ("split", "layouts", "label_map") or (d is None and v is None):
            continue  # parsed and checked above
        want = str if d is None else type(d)  # the options without a default are text
        ok = (isinstance(v, bool) if want is bool else
              isinstance(v, int) and not isinstance(v, bool) if want is int else
              isinstance(v, (int, float)) and not isinstance(v, bool) if want is float else isinstance(v, want))
        if not ok:
            kind = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[want]
            raise InputError(f"{where}: {key} must be {kind}, got {v!r}.")


def load_config(path: str | os.PathLike | None, overrides: dict[str, Any]) -> BuildConfig:
    """Defaults <- YAML file (``yaml.safe_load``) <- ``overrides`` (command-line flags that were given).

    A value the file alone gets wrong is reported naming the file."""
    file_values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise InputError(f"{p}: no such config file; check --config.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: cannot read the config ({exc}); save it as UTF-8 text.") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{p}: not valid YAML ({exc}).") from None
        if not isinstance(raw, dict):
            raise InputError(f"{p}: the config must be a mapping of option: value.")
        names = {f.name for f in dataclasses.fields(BuildConfig)}
        for k, v in raw.items():
            key = str(k).replace("-", "_")
            if key not in names:
                raise InputError(f"{p}: unknown option {k!r}; known: {', '.join(sorted(names))}.")
            file_values[key] = v
    values = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}
    where = f"{path}" if path is not None else "options"
    try:
        return _config(values, where)
    except FarmannotError:
        if path is None:
            raise
        try:  # the file's own values: when they fail too, the file is what to fix
            _config(dict(file_values), where)
        except FarmannotError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        raise


def _config(values: dict[str, Any], where: str) -> BuildConfig:
    values = dict(values)
    if "split" in values:
        values["split"] = parse_split(values["split"])
    if "layouts" in values:
        values["layouts"] = parse_layouts(values["layouts"])
    if "label_map" in values and not isinstance(values["label_map"], dict):
        raise InputError("label_map must be a mapping label: value.")
    _check_types(values, where)
    try:
        cfg = BuildConfig(**values)
    except TypeError as exc:
        raise InputError(f"config: {exc}") from None
    return cfg.validate()
