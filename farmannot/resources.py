"""Where farmannot's data files live (caption templates, vocabularies, thresholds).

The templates ship inside the package (``farmannot/templates``, so a wheel has them); the repository's top-level
``templates`` links there so a lab finds and edits the wording without touching code. Set
``FARMANNOT_TEMPLATES`` to use a copy elsewhere.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from farmannot.errors import FarmannotError


def templates_dir() -> Path:
    env = os.environ.get("FARMANNOT_TEMPLATES")
    if env:
        return Path(env)
    return Path(_DEFAULT_TEMPLATES)


@functools.lru_cache(maxsize=None)
def load_yaml(path: str) -> Any:
    """Parse the YAML file ``path`` with ``yaml.safe_load``, once per path."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise FarmannotError(f"{path}: template file missing; set FARMANNOT_TEMPLATES to the templates folder.") from None
    except yaml.YAMLError as exc:
        raise FarmannotError(f"{path}: not valid YAML ({exc}).") from None


def template_path(name: str) -> str:
    """The path of ``templates/NAME`` in the templates folder in use (``FARMANNOT_TEMPLATES``, else the package's)."""
    return os.path.join(os.environ.get("FARMANNOT_TEMPLATES") or _DEFAULT_TEMPLATES, name)


def load_template_yaml(name: str) -> Any:
    """Parse ``templates/NAME`` with ``yaml.safe_load`` (cached by its path)."""
    return load_yaml(template_path(name))


_DEFAULT_TEMPLATES = str(Path(__file__).resolve().parent / "templates")
