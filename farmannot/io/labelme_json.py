"""The labelme annotation file codec (no Qt): lenient on read, strict on write.

Reads every labelme JSON from 3.x/4.x to 6.3 (missing optional keys, extra keys, Windows separators in
``imagePath``) and writes exactly what labelme 6.3's own loader (``labelme._label_file.read_label_file``)
accepts. Keys farmannot does not know survive a load/save round trip: unknown shape keys in
:attr:`Shape.extra`, unknown top-level keys in :attr:`Annotation.extra`. farmannot's own data lives under the
single top-level key ``"farmannot"`` (layout in ``docs/formats.md``).

Safety: ``imagePath`` is resolved relative to the JSON's folder and must stay inside the project folder
(:func:`resolve_image_path`); embedded ``imageData`` has a size limit.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image

from farmannot.errors import InputError
from farmannot.io.atomic import is_temporary, write_text

LABELME_VERSION = "6.3.1"
FARMANNOT_KEY = "farmannot"
#: Shape types labelme 6.3 draws and loads.
SHAPE_TYPES = (
    "polygon", "rectangle", "oriented_rectangle", "point", "line", "circle", "linestrip", "points", "mask",
)
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_MIN_POINTS = {"polygon": 3, "rectangle": 2, "circle": 2, "line": 2, "linestrip": 2, "point": 1, "points": 1,
               "mask": 2, "oriented_rectangle": 4}


@dataclass
class Shape:
    """One labelme shape.

    Attributes:
        label: Class name (``"farmland"``, ``"__ignore__"``, ...).
        points: ``[[x, y], ...]`` in image pixel coordinates (pixel centres at ``i + 0.5`` as labelme draws).
        shape_type: One of :data:`SHAPE_TYPES`.
        group_id: Instance group, or ``None``.
        description: Free text (labelme 5+; ``None`` in older files reads as ``""``).
        flags: Per-shape boolean flags.
        mask: Boolean array for ``shape_type == "mask"``, covering the box ``points[0]..points[1]``.
        extra: Keys this codec does not know (``lineColor``, ``other_data`` of plugins), kept on save.
    """

    label: str
    points: list[list[float]]
    shape_type: str = "polygon"
    group_id: int | None = None
    description: str = ""
    flags: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Annotation:
    """One labelme annotation file.

    Attributes:
        shapes: The shapes, in file order (later shapes paint over earlier ones when rasterised).
        image_path: ``imagePath`` as written (POSIX separators), relative to the JSON's folder.
        image_height: ``imageHeight``.
        image_width: ``imageWidth``.
        version: labelme version that wrote the file (saving writes :data:`LABELME_VERSION`).
        flags: Image-level flags.
        image_data: Base64 ``imageData`` or ``None``.
        farmannot: farmannot's own data, saved under the top-level key ``"farmannot"``.
        extra: Unknown top-level keys, kept on save.
    """

    shapes: list[Shape]
    image_path: str | None
    image_height: int | None
    image_width: int | None
    version: str = LABELME_VERSION
    flags: dict = field(default_factory=dict)
    image_data: str | None = None
    farmannot: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- masks
def encode_mask(mask: np.ndarray) -> str:
    """Encode a 2-D boolean mask the way labelme does: a PNG of 0/1 bytes, base64 text."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(f"mask must be 2-D, got shape {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr.astype(bool).astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


MASK_PIXELS_ENV = "FARMANNOT_MAX_MASK_PIXELS"
ANNOTATION_MASK_PIXELS_ENV = "FARMANNOT_MAX_ANNOTATION_MASK_PIXELS"


def mask_pixel_limits() -> tuple[int, int]:
    """Decoded pixels allowed per mask shape and per annotation (all its masks): a few kilobytes of PNG can
    decode to gigabytes. Defaults 25 and 100 megapixels; settings ``$FARMANNOT_MAX_MASK_PIXELS`` and
    ``$FARMANNOT_MAX_ANNOTATION_MASK_PIXELS``."""
    out = []
    for env, default in ((MASK_PIXELS_ENV, 25_000_000), (ANNOTATION_MASK_PIXELS_ENV, 100_000_000)):
        raw = os.environ.get(env, "").strip()
        try:
            out.append(int(float(raw)) if raw else default)
        except ValueError:
            raise InputError(f"${env}: expected a number of pixels, got {raw!r}.") from None
    return out[0], out[1]


def decode_mask(b64: str, max_pixels: int | None = None) -> np.ndarray:
    """Decode labelme's base64 PNG mask into a 2-D boolean array (any non-zero pixel is True).

    Raises:
        InputError: not a base64 PNG, or more than ``max_pixels`` (default: :func:`mask_pixel_limits`) pixels.
    """
    limit = mask_pixel_limits()[0] if max_pixels is None else max_pixels
    try:
        with Image.open(io.BytesIO(base64.b64decode(b64, validate=False))) as img:
            w, h = img.size  # from the header, before any pixel is decoded
            if limit and w * h > limit:
                raise InputError(f"shape mask is {w} x {h} px, over the limit of {limit:,} decoded pixels per mask "
                                 f"shape; redraw it as a polygon, or raise ${MASK_PIXELS_ENV}")
            arr = np.asarray(img)
    except Image.DecompressionBombError as exc:
        raise InputError(f"shape mask is too large to decode ({exc})") from None
    except (binascii.Error, OSError, ValueError) as exc:
        raise InputError(f"shape mask is not a base64 PNG ({exc})") from None
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr.astype(bool)


# ---------------------------------------------------------------------------------------------- read
def _points(pts: Any) -> tuple[list[list[float]] | None, bool]:
    """A shape's ``points`` as ``[[x, y], ...]`` floats (None when they are not a list of number pairs) and
    whether every coordinate is finite.

    The common case (a list of numeric pairs) is checked and converted by numpy in one go, which matters for
    annotations of tens of thousands of shapes; anything else takes the element-by-element check.
    """
    if not isinstance(pts, list):
        return None, True
    if pts:
        try:
            arr = np.asarray(pts)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype.kind in "biuf":
            arr = arr.astype(np.float64)
            return arr.tolist(), bool(np.isfinite(arr).all())
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
               for p in pts):
        return None, True
    points = [[float(x), float(y)] for x, y in pts]
    return points, all(math.isfinite(v) for p in points for v in p)


def _load_shape(obj: Any, where: str) -> Shape:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: a shape must be a JSON object, got {type(obj).__name__}")
    label = obj.get("label")
    if not isinstance(label, str):
        raise InputError(f"{where}: shape has no text 'label'; fix or delete the shape in labelme.")
    points, finite = _points(obj.get("points"))
    if points is None:
        raise InputError(f"{where}: shape {label!r} has no valid 'points' list of [x, y].")
    if not finite:
        raise InputError(f"{where}: shape {label!r} has a NaN or infinite vertex; fix or redraw the shape.")
    shape_type = obj.get("shape_type") or "polygon"  # labelme 3.x files have no shape_type
    if not isinstance(shape_type, str):
        raise InputError(f"{where}: shape {label!r} has a non-text shape_type.")
    group_id = obj.get("group_id")
    if group_id is not None and not isinstance(group_id, int):
        raise InputError(f"{where}: shape {label!r} has a non-integer group_id {group_id!r}.")
    desc = obj.get("description")
    mask = None
    if obj.get("mask") is not None:
        if not isinstance(obj["mask"], str):
            raise InputError(f"{where}: shape {label!r} mask must be a base64 PNG string.")
        try:
            mask = decode_mask(obj["mask"])
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return Shape(
        label=label,
        points=points,
        shape_type=shape_type,
        group_id=group_id,
        description=desc if isinstance(desc, str) else "",
        flags=dict(obj.get("flags") or {}),
        mask=mask,
        extra={k: v for k, v in obj.items() if k not in _SHAPE_KEYS},
    )


def annotation_from_dict(raw: Any, *, source: str = "<annotation>",
                         max_image_data_bytes: int | None = 50_000_000) -> Annotation:
    """Build an :class:`Annotation` from a parsed labelme JSON object (lenient).

    Raises:
        InputError: not a labelme annotation, a malformed shape, or ``imageData`` over the size limit.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("shapes", []), list):
        raise InputError(f"{source}: not a labelme annotation (expected an object with a 'shapes' list).")
    image_data = raw.get("imageData")
    if image_data is not None:
        if not isinstance(image_data, str):
            raise InputError(f"{source}: imageData must be base64 text or null.")
        if max_image_data_bytes is not None and len(image_data) * 3 // 4 > max_image_data_bytes:
            raise InputError(
                f"{source}: embedded imageData is about {len(image_data) * 3 // 4:,} bytes, over the limit of "
                f"{max_image_data_bytes:,}; save the annotation without image data (labelme: File > Save With "
                "Image Data off) or raise the limit."
            )
    image_path = raw.get("imagePath")
    if image_path is not None:
        if not isinstance(image_path, str):
            raise InputError(f"{source}: imagePath must be text.")
        image_path = PureWindowsPath(image_path).as_posix()
    farm = raw.get(FARMANNOT_KEY) or {}
    if not isinstance(farm, dict):
        raise InputError(f"{source}: the '{FARMANNOT_KEY}' key must hold an object.")
    caption = farm.get("caption")
    if caption is not None and (not isinstance(caption, dict)
                                or not isinstance(caption.get("keywords") or {}, dict)):
        raise InputError(f"{source}: '{FARMANNOT_KEY}.caption' must be an object with a 'keywords' object; "
                         "fix the file or confirm the keywords again in `farmannot annotate`.")
    shapes, total, limit = [], 0, mask_pixel_limits()[1]
    for i, s in enumerate(raw.get("shapes") or []):
        shapes.append(_load_shape(s, f"{source} shape {i}"))
        total += shapes[-1].mask.size if shapes[-1].mask is not None else 0
        if limit and total > limit:  # checked as masks decode: memory stays near the limit
            raise InputError(f"{source}: its mask shapes decode to over {limit:,} pixels, the limit per "
                             f"annotation; redraw large masks as polygons, or raise ${ANNOTATION_MASK_PIXELS_ENV}.")
    return Annotation(
        shapes=shapes,
        image_path=image_path,
        image_height=_opt_int(raw.get("imageHeight"), "imageHeight", source),
        image_width=_opt_int(raw.get("imageWidth"), "imageWidth", source),
        version=str(raw.get("version") or LABELME_VERSION),
        flags=dict(raw.get("flags") or {}),
        image_data=image_data,
        farmannot=farm,
        extra={k: v for k, v in raw.items() if k not in _TOP_KEYS and k != FARMANNOT_KEY},
    )


def _opt_int(v: Any, key: str, source: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise InputError(f"{source}: {key} must be an integer, got {v!r}.")
    return int(v)


@contextlib.contextmanager
def reading_annotation(path: Path, max_image_data_bytes: int | None) -> Iterator[None]:
    """Around reading an annotation file: refuse one too large for ``max_image_data_bytes`` of image data, and
    turn a missing, unreadable or non-JSON file into one :class:`InputError` naming it and what to do."""
    try:
        if max_image_data_bytes is not None and path.stat().st_size > 2 * max_image_data_bytes + 10_000_000:
            raise InputError(f"{path}: file is {path.stat().st_size:,} bytes, too large for an annotation.")
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: no such annotation file; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the annotation ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); open it in labelme and save again.") from None


def load_annotation(path: str | os.PathLike, *, project_dir: str | os.PathLike | None = None,
                    max_image_data_bytes: int | None = 50_000_000) -> Annotation:
    """Read a labelme JSON file (any version from 3.x to 6.3).

    Args:
        path: The ``.json`` file.
        project_dir: When given, ``imagePath`` must resolve inside this folder (else :class:`InputError`).
        max_image_data_bytes: Refuse embedded images larger than this (``None``: no limit).

    Returns:
        The annotation; unknown keys are kept in ``extra`` fields.

    Raises:
        InputError: unreadable file, invalid JSON, malformed content, oversized image data, escaping path.
    """
    path = Path(path)
    with reading_annotation(path, max_image_data_bytes), open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    ann = annotation_from_dict(raw, source=str(path), max_image_data_bytes=max_image_data_bytes)
    if project_dir is not None and ann.image_path:
        resolve_image_path(ann, path, project_dir=project_dir)
    return ann


def find_annotations(folder: Path) -> list[Path]:
    """labelme annotation files under ``folder`` (recursive, sorted): JSON files with a ``shapes`` key.

    Valid JSON of another kind (a dataset's records, captions, COCO files) is left out; a file that does not
    read as JSON is kept, so that the reader names it as a broken annotation instead of passing it over.
    """
    out = []
    for p in sorted(q for q in folder.rglob("*.json") if q.is_file() and not is_temporary(q.name)):
        try:
            with open(p, encoding="utf-8") as fh:
                head = fh.read(1 << 16)
                if '"shapes"' not in head:
                    json.loads(head + fh.read())
                    continue
        except (OSError, ValueError):  # unreadable, not UTF-8 or not JSON
            pass
        out.append(p)
    return out


def project_folder(path: str | os.PathLike) -> Path:
    """The project folder of an annotation file or folder given on its own.

    A project keeps its annotations in ``annotations/`` and its scenes in ``scenes/`` (``imagePath`` is
    ``../scenes/NAME.tif``), so a file in, or the folder, ``annotations/`` belongs to the folder above it;
    anything else is its own project folder.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    return folder.parent if folder.name == "annotations" else folder


def resolve_image_path(ann: Annotation, json_path: str | os.PathLike, *,
                       project_dir: str | os.PathLike | None = None, allow_outside: bool = False) -> Path:
    """Resolve ``imagePath`` relative to the JSON's folder, refusing paths that leave the project folder.

    Args:
        ann: The annotation.
        json_path: Where the annotation file lives.
        project_dir: The project folder (default: :func:`project_folder` of the JSON).
        allow_outside: Accept a path outside the project folder (a command-line flag, never a file's choice).

    Raises:
        InputError: no ``imagePath``, or the path escapes the project folder.
    """
    json_path = Path(json_path)
    if not ann.image_path:
        raise InputError(f"{json_path}: the annotation has no imagePath; set it in labelme.")
    given = json_path.parent / PureWindowsPath(ann.image_path).as_posix()
    resolved = given.resolve()
    root = Path(project_dir if project_dir is not None else project_folder(json_path))
    if allow_outside or resolved.is_relative_to(root.resolve()):
        return resolved
    # a symlink the user placed inside the folder is theirs to make; a path climbing out with '..' is not
    lexical = Path(os.path.normpath(given.absolute()))
    if lexical.is_relative_to(Path(os.path.normpath(root.absolute()))):
        return lexical
    raise InputError(
        f"{json_path}: imagePath {ann.image_path!r} points outside the project folder {root.resolve()}; move "
        "the image (or a link to it) into the folder; caption and export-vectors also take --allow-outside."
    )


# --------------------------------------------------------------------------------------------- write
def _check_json(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: not JSON-serialisable ({exc}).") from None


def shape_to_dict(shape: Shape, where: str = "shape") -> dict[str, Any]:
    """Validate a shape against labelme 6.3's rules and return its JSON object (known keys first)."""
    if not isinstance(shape.label, str) or not shape.label:
        raise InputError(f"{where}: label must be non-empty text.")
    if shape.shape_type not in SHAPE_TYPES:
        raise InputError(f"{where}: shape_type {shape.shape_type!r} is not one of {', '.join(SHAPE_TYPES)}.")
    pts = [[float(x), float(y)] for x, y in shape.points]
    if len(pts) < _MIN_POINTS[shape.shape_type] or any(not math.isfinite(v) for p in pts for v in p):
        raise InputError(f"{where}: a {shape.shape_type} needs at least {_MIN_POINTS[shape.shape_type]} finite "
                         f"points, got {len(pts)}.")
    if shape.group_id is not None and (isinstance(shape.group_id, bool) or not isinstance(shape.group_id, int)):
        raise InputError(f"{where}: group_id must be an integer or None.")
    if not all(isinstance(k, str) and isinstance(v, bool) for k, v in shape.flags.items()):
        raise InputError(f"{where}: flags must map text to true/false.")
    if shape.shape_type == "mask" and shape.mask is None:
        raise InputError(f"{where}: a mask shape needs its mask array.")
    reserved = set(_SHAPE_KEYS) & set(shape.extra)
    if reserved:
        raise InputError(f"{where}: extra keys {sorted(reserved)} clash with labelme's own keys.")
    out: dict[str, Any] = {
        "label": shape.label,
        "points": pts,
        "group_id": shape.group_id,
        "description": shape.description or "",
        "shape_type": shape.shape_type,
        "flags": dict(shape.flags),
        "mask": None if shape.mask is None else encode_mask(shape.mask),
    }
    _check_json(shape.extra, f"{where} extra keys")
    out.update(shape.extra)
    return out


def annotation_to_dict(ann: Annotation) -> dict[str, Any]:
    """The labelme 6.3 JSON object of an annotation (validated; ``version`` set to 6.3.1)."""
    if not ann.image_path:
        raise InputError("annotation has no imagePath; labelme 6.3 cannot open it without one.")
    for key, v in (("imageHeight", ann.image_height), ("imageWidth", ann.image_width)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise InputError(f"annotation {key} must be a positive integer, got {v!r}.")
    if not all(isinstance(k, str) and isinstance(v, bool) for k, v in ann.flags.items()):
        raise InputError("annotation flags must map text to true/false.")
    clash = (set(_TOP_KEYS) | {FARMANNOT_KEY}) & set(ann.extra)
    if clash:
        raise InputError(f"annotation extra keys {sorted(clash)} clash with reserved keys.")
    if ann.image_data is not None and ann.image_height is not None and ann.image_width is not None:
        try:
            with Image.open(io.BytesIO(base64.b64decode(ann.image_data))) as img:
                w, h = img.size
        except (binascii.Error, OSError, ValueError) as exc:
            raise InputError(f"annotation imageData is not a decodable image ({exc}).") from None
        if (h, w) != (ann.image_height, ann.image_width):
            raise InputError(f"annotation imageData is {w} x {h} px but imageWidth x imageHeight say "
                             f"{ann.image_width} x {ann.image_height}.")
    out: dict[str, Any] = {
        "version": LABELME_VERSION,
        "flags": dict(ann.flags),
        "shapes": [shape_to_dict(s, f"shape {i} ({s.label!r})") for i, s in enumerate(ann.shapes)],
        "imagePath": PureWindowsPath(ann.image_path).as_posix(),
        "imageData": ann.image_data,
        "imageHeight": ann.image_height,
        "imageWidth": ann.image_width,
    }
    if ann.farmannot:
        _check_json(ann.farmannot, f"annotation '{FARMANNOT_KEY}' data")
        out[FARMANNOT_KEY] = ann.farmannot
    _check_json(ann.extra, "annotation extra keys")
    out.update(ann.extra)
    return out


def save_annotation(ann: Annotation, path: str | os.PathLike) -> None:
    """Write ``ann`` as a labelme 6.3 JSON file, atomically (indent 2, UTF-8, non-ASCII kept, as labelme does).

    Raises:
        InputError: the annotation would not load in labelme 6.3 (the message says which field).
    """
    try:
        obj = annotation_to_dict(ann)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
