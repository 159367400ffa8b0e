#!/usr/bin/env bash
# The main job on the bundled sample_data/: every step of farmannot on real scenes, results under $1.
# scenes + annotations -> captions, SPIE prompts, aligned DEM -> dataset (4 layouts + card)
# -> trained model -> evaluation report -> label audit -> predictions as drafts -> GIS export.
set -euo pipefail
OUT=${1:-out/demo}
FA=${FA:-.venv/bin/farmannot}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
mkdir -p "$OUT"
step() { echo; echo "== $*"; }

step "spectral prompts (SPIE) for the 5 m RGB+NIR scene"
$FA prompts sample_data/scenes/rgbn-cul-de-sac.tif --sensor rgbn --format spex --output "$OUT/prompts.jsonl"

step "caption of the Landsat annotation: month, season, lat/lon from the scene, other keywords suggested"
$FA caption sample_data/annotations/LC08_L1TP_224078_20200518_20200518_01_RT_subset.json --suggest --lang both --allow-outside \
    > "$OUT/caption-landsat.txt"
head -n 20 "$OUT/caption-landsat.txt"

step "DEM (degrees, coarse) aligned and registered to the Rocky Mountain image grid"
$FA align-dem sample_data/dems/rmnp-dem.tif --to sample_data/scenes/rmnp-rgb.tif --output "$OUT/rmnp-dem-aligned.tif" \
    --derive slope,aspect,hillshade,relief --report "$OUT/rmnp-dem-aligned.json"

step "dataset: tiles, labels, captions, prompts, DEM; FarmSeg-VL, GTPBD-MM, SPIE, COCO layouts; card"
$FA build-dataset sample_data --config sample_data/build.yaml --output "$OUT/dataset" --no-progress

# Kept short for a CPU: 8 epochs of batches of 4 make as many optimiser steps as 15 epochs of 8 did, for
# about half the compute; the audit trains 2 fold models of 4 epochs instead of 3 of 8.
# --overwrite: a second `make demo` into the same folder trains again instead of refusing the old run.
step "train a small U-Net on the dataset (CPU, a few epochs)"
$FA train "$OUT/dataset" --output "$OUT/run" --model unet --encoder-depth 3 --epochs 8 --batch-size 4 \
    --device cpu --no-progress --overwrite

step "evaluate on the test split (pixel, GTPBD edge and object metrics, report with plots)"
$FA evaluate "$OUT/run" --dataset "$OUT/dataset" --split test --output "$OUT/eval" --device cpu --no-progress

step "label audit: out-of-fold predictions rank suspect tiles"
$FA audit "$OUT/dataset" --folds 2 --epochs 4 --batch-size 4 --encoder-depth 3 --output "$OUT/audit" --device cpu \
    --no-progress

step "predict a whole scene with the trained model; parcels as draft annotation"
$FA predict "$OUT/run" sample_data/scenes/rgbn-cul-de-sac.tif --output "$OUT/predict/rgbn-cul-de-sac.tif" \
    --patch 256 --overlap 32 --polygons "$OUT/predict/rgbn-cul-de-sac.json" --overwrite --no-progress

step "parcels with captions to GeoPackage and fiboa GeoParquet"
$FA export-vectors sample_data/annotations --output "$OUT/parcels.gpkg" --format gpkg --allow-outside --no-progress
# fiboa needs each parcel's determination date: the Landsat scene's date comes from its product name
$FA export-vectors sample_data/annotations/LC08_L1TP_224078_20200518_20200518_01_RT_subset.json \
    --output "$OUT/parcels-parana.fiboa.parquet" --format fiboa --allow-outside --no-progress

echo
echo "Results are in $OUT/:"
echo "  dataset card:     $OUT/dataset/DATASET_CARD.md"
echo "  evaluation:       $OUT/eval/"
echo "  audit (worst first): $OUT/audit/"
echo "  predictions:      $OUT/predict/"
echo "To fix the audit's suspect labels in the annotator: .venv/bin/farmannot annotate --suspects $OUT/audit"
ls -1 "$OUT" | sed 's/^/  /'
