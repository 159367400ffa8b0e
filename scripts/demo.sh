#!/usr/bin/env bash
# The main job on the bundled sample_data/: each step of farmannot on real scenes, results under $1.
set -euo pipefail
OUT=${1:-out/demo}
FA=.venv/bin/farmannot
mkdir -p "$OUT"

echo "== spectral prompts (SPIE) for the 5 m RGB+NIR scene"
$FA prompts sample_data/scenes/rgbn-cul-de-sac.tif --sensor rgbn --bbox axis --format spex \
    --output "$OUT/prompts.jsonl"

echo
echo "Results are in $OUT/:"
ls -1 "$OUT" | sed 's/^/  /'
