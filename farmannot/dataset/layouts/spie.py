"""The SPIE layout, loadable by SPEX's released training code unchanged.

SPEX (github.com/MiliLab/SPEX, ``llava/train/train.py``, ``LazySupervisedDataset``) reads a JSON list
(``--data_path``) of records with ``image`` (opened with PIL under ``--image_folder``), ``gt_image`` (read
unchanged under ``--gt_image_folder``, used as the binary training target) and ``conversations`` (LLaVA
turns: ``human`` with the ``<image>`` token, ``gpt``). So, per split:

- ``spie/{split}.json``: the records (``--data_path``), each also naming its category, the spectral prior,
  the multispectral tile and the region attributes;
- ``spie/{split}/img/NAME.png`` (``--image_folder``): the RGB preview, georeferenced;
- ``spie/{split}/label/NAME_CATEGORY.png`` (``--gt_image_folder``): 1 where the annotated labels of the
  category are, 0 elsewhere;
- ``spie/{split}/spectral_prior/NAME_CATEGORY.png``: the Otsu mask of the category's index (0/1), the
  spectral prior the prompt describes;
- ``spie/{split}/multispectral/NAME.tif``: every band of the tile, as read, with the georeferencing.
"""

from __future__ import annotations

import numpy as np

from farmannot.dataset.layouts.tile import Tile, with_stem

NAME = "spie"
IMAGES, LABELS, PRIORS, MULTISPECTRAL = "img", "label", "spectral_prior", "multispectral"
IMAGE_TOKEN = "<image>"


def files(tile: Tile) -> dict[str, bytes]:
    b = f"{NAME}/{tile.split}"
    samples = [s for s in tile.spie if s.gt is not None]
    if not samples:
        return {}
    out = with_stem(tile.rgb_png, f"{b}/{IMAGES}/{tile.name}")
    out[f"{b}/{MULTISPECTRAL}/{tile.name}.tif"] = tile.bands_tif
    for s in samples:
        out.update(with_stem(tile.label_png(s.gt.astype(np.uint8)), f"{b}/{LABELS}/{tile.name}_{s.category}"))
        out.update(with_stem(tile.label_png(s.prior.astype(np.uint8)),
                             f"{b}/{PRIORS}/{tile.name}_{s.category}"))
    return out


def records(tile: Tile) -> list[dict]:
    """SPEX training records of one tile (paths relative to the split's folders)."""
    out = []
    for s in tile.spie:
        if s.gt is None:
            continue
        out.append({
            "id": f"{tile.name}_{s.category}",
            "image": f"{tile.name}.png",
            "gt_image": f"{tile.name}_{s.category}.png",
            "conversations": [{"from": "human", "value": f"{IMAGE_TOKEN}\n{s.instruction}"},
                              {"from": "gpt", "value": s.response}],
            "category": s.category,
            "spectral_prior": f"{PRIORS}/{tile.name}_{s.category}.png",
            "image_multispectral": f"{MULTISPECTRAL}/{tile.name}.tif",
            "regions": s.regions,
        })
    return out


def spie_response(category: str, regions: list[dict]) -> str:
    """A plain description of the regions (the SPIE response) from their attributes."""
    if not regions:
        return f"No distinct {category} regions stand out in this image."
    parts = [f"The image holds {len(regions)} distinct {category} region{'s' if len(regions) > 1 else ''}."]
    for i, r in enumerate(regions[:3]):
        size = r.get("Size of area", r.get("size"))
        loc = r.get("Location", r.get("location"))
        lead = "The largest" if i == 0 else "Another"
        parts.append(f"{lead} is {size} in area and lies in the {loc} of the image.")
    return " ".join(parts)
