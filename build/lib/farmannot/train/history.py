"""The training log: one CSV row per epoch and a loss / metric plot (matplotlib, Agg)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from farmannot.io.atomic import atomic_path, write_text

FIELDS = ("epoch", "train_loss", "val_loss", "val_IoU", "val_F1", "lr", "seconds", "images_per_s")


def write_log(path: Path, history: list[dict]) -> None:
    """Write ``train_log.csv`` (the whole history, atomically)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buf.getvalue())


def plot_history(path: Path, history: list[dict]) -> None:
    """Loss curves and validation IoU/F1 against epochs, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.set(xlabel="epoch", ylabel="BCE + Dice", title="loss")
    b.set(xlabel="epoch", ylim=(0, 1), title="validation")
    if any(h.get("val_loss") not in (None, "") for h in history):
        a.plot(ep, [h.get("val_loss") for h in history], "o-", label="val")
        b.plot(ep, [h.get("val_IoU") for h in history], "o-", label="val IoU")
        b.plot(ep, [h.get("val_F1") for h in history], "o-", label="val F1")
        b.legend()
    else:
        b.text(0.5, 0.5, "no val split", ha="center", va="center", transform=b.transAxes)
    a.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
