"""The evaluation report: ``metrics.json``, ``report.md`` with overall and per-region tables, plots, and
overlays of the worst tiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from farmannot.io.atomic import atomic_path, write_json, write_text
from farmannot.train.metrics import MetricAccumulator
from farmannot.train.overlay import overlay, write_png

TABLE_KEYS = ("OA", "Precision", "Recall", "F1", "IoU", "mIoU", "mAcc", "mDice", "Kappa", "ODS", "OIS",
              "GOC", "GUC", "GTC")
PERCENT = {"OA", "Precision", "Recall", "F1", "IoU", "mIoU", "mAcc", "mDice", "ODS", "OIS", "GOC", "GUC", "GTC",
           "Recall_mean", "ODS_paper", "OIS_paper"}
# (label, summary key[@protocol]): the numbers to compare with each paper's tables
PAPER_ROWS = (
    ("Recall, GTPBD-MM Rec. / GTPBD script (TP/(TP+FN))", "Recall"),
    ("Recall, FarmSeg-VL tables (two-class mean = mAcc)", "Recall_mean"),
    ("ODS, GTPBD script (mean F1 over 1..5 px)", "ODS@gtpbd"),
    ("OIS, GTPBD script (max F1 over 1..5 px)", "OIS@gtpbd"),
    ("ODS, BSDS benchmark (summed counts, best threshold)", "ODS@bsds"),
    ("OIS, BSDS benchmark (counts summed at each tile's best threshold)", "OIS@bsds"),
    ("ODS, GTPBD-MM paper App. C.2 eq. 9", "ODS_paper"),
    ("OIS, GTPBD-MM paper App. C.2 eq. 10 (mean of per-tile best F)", "OIS_paper"),
)


def _fmt(key: str, v) -> str:
    if isinstance(v, int):
        return str(v)
    text = f"{100 * v:.2f}" if key in PERCENT else f"{v:.4f}"
    # a value that rounds to zero from below (Kappa of a constant prediction: -1e-17) is written 0, not -0
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def markdown_table(rows: dict[str, dict], keys: tuple[str, ...] = TABLE_KEYS, first: str = "region") -> str:
    """A Markdown table: one row per key of ``rows``, one column per metric."""
    cols = [k for k in keys if any(k in r for r in rows.values())] + ["images"]
    lines = [f"| {first} | " + " | ".join(cols) + " |", "| --- " * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(c, r.get(c, float('nan'))) for c in cols) + " |")
    return "\n".join(lines)


def definitions_table(summary: dict) -> str:
    """Each metric whose definition differs between a paper and a script, labelled, with this run's value
    (the protocol not chosen is left out: its value was not computed)."""
    o = summary["overall"]
    lines = ["| metric, as defined by | value |", "| --- | --- |"]
    for label, key in PAPER_ROWS:
        name, _, protocol = key.partition("@")
        if protocol and protocol != summary["protocol"]:
            continue
        if name in o:
            lines.append(f"| {label} | {_fmt(name, o[name])} |")
    return "\n".join(lines)


def summary_line(summary: dict) -> str:
    """One line for the terminal: the main scores and, labelled, the paper definitions that differ."""
    o = summary["overall"]
    p = summary["protocol"]
    return (f"{o['images']} tile(s): IoU {100 * o['IoU']:.2f}, F1 {100 * o['F1']:.2f}, mIoU {100 * o['mIoU']:.2f}, "
            f"Recall {100 * o['Recall']:.2f} (FarmSeg-VL Recall = mAcc {100 * o['Recall_mean']:.2f}), "
            f"ODS/OIS {p} {100 * o['ODS']:.2f}/{100 * o['OIS']:.2f} "
            f"(GTPBD-MM paper {100 * o['ODS_paper']:.2f}/{100 * o['OIS_paper']:.2f}), GTC {100 * o['GTC']:.2f}")


def _plots(out: Path, summary: dict, images: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    regions = summary["regions"]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(regions) + 2), 3.2))
    keys = ("IoU", "F1", "ODS", "GTC")
    x = np.arange(len(regions))
    for i, k in enumerate(keys):
        ax.bar(x + (i - 1.5) * 0.2, [regions[r][k] for r in regions], 0.2, label=k)
    ax.set_xticks(x, list(regions), rotation=20)
    ax.set(ylim=(0, 1), title="per region (GTC: lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "plots" / "regions.png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    files.append("plots/regions.png")
    tols = sorted(int(k.split("@")[1]) for k in images[0] if k.startswith("F1@")) if images else []
    if tols:
        fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
        a.plot(tols, [np.mean([im[f"F1@{t}"] for im in images]) for t in tols], "o-")
        a.set(xlabel="tolerance (px)", ylabel="mean boundary F1", ylim=(0, 1), title="edge F1 (gtpbd)")
        b.hist([im["IoU"] for im in images], bins=20, range=(0, 1))
        b.set(xlabel="tile IoU", ylabel="tiles", title="IoU per tile")
        fig.tight_layout()
        with atomic_path(out / "plots" / "edge_and_iou.png") as tmp:
            fig.savefig(tmp, dpi=90)
        plt.close(fig)
        files.append("plots/edge_and_iou.png")
    return files


def write_report(output: Path, acc: MetricAccumulator, meta: dict,
                 load: Callable[[str], tuple[np.ndarray, np.ndarray, np.ndarray]], n_overlays: int = 8) -> dict:
    """Write ``metrics.json``, ``report.md``, ``plots/`` and ``overlays/`` (the worst tiles by IoU).

    Args:
        output: report folder.
        acc: the filled accumulator.
        meta: what was evaluated (written to both files).
        load: name -> (image, GT mask, predicted mask), for overlays.
        n_overlays: how many of the worst tiles get an overlay.

    Returns:
        The summary dict written to ``metrics.json``.
    """
    output = Path(output)
    summary = acc.summary()
    result = {"meta": meta, **summary, "images": acc.images}
    write_json(output / "metrics.json", result)
    plots = _plots(output, summary, acc.images)
    worst = sorted(acc.images, key=lambda r: (r["IoU"], r["name"]))[:n_overlays]
    for r in worst:
        img, gt, pred = load(r["name"])
        scale = max(1, 256 // max(gt.shape))
        write_png(output / "overlays" / f"{r['name']}.png", overlay(img, gt, pred, scale))
    lines = ["# Evaluation report", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += ["", f"Edge protocol: **{summary['protocol']}**. Values in percent except Kappa; GOC/GUC/GTC lower "
              "is better. Pixel metrics from confusion counts summed over tiles (ignore pixels left out); edge "
              "and object metrics are means over tiles.", "", "## Overall", "",
              markdown_table({"all": summary["overall"]}, first="set"), "",
              "## Paper and script definitions", "",
              "Where a paper's table and the released script define a metric differently, both values, labelled "
              "(`docs/train.md`, Metric definitions):", "", definitions_table(summary), "", "## Per region", "",
              markdown_table(summary["regions"]), ""]
    lines += [f"![{p}]({p})" for p in plots]
    lines += ["", "## Worst tiles", "", "Green: GT outline / missed parcel; magenta: predicted outline / false parcel.",
              "", "| tile | region | IoU | F1 | ODS | GTC | overlay |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in worst:
        lines.append(f"| {r['name']} | {r['region']} | {100 * r['IoU']:.1f} | {100 * r['F1']:.1f} | "
                     f"{100 * r['ODS']:.1f} | {100 * r['GTC']:.1f} | ![](overlays/{r['name']}.png) |")
    write_text(output / "report.md", "\n".join(lines) + "\n")
    return result
