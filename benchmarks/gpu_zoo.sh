#!/usr/bin/env bash
# Fill irbench's zoo on one GPU in one command: MSHNet with its official recipe on NUDT-SIRST and IRSTD-1k, and
# DNANet, ISNet, ALCNet, ACM, MDvsFA for as many epochs as fit, all trainings at once on the same GPU (the
# official batch sizes leave most of a large GPU idle); then each is scored on its test split and published
# into a zoo folder. Three files come back under $OUT, each under 16 MiB: zoo_weights.tar (the shipped weight
# files, at most 2 MB each, and manifest.json), results.json (the manifest entries: command, epochs, wall time,
# test metrics) and logs.tar.gz (histories and logs).
#
#   OUT=/tmp/out DATA=../shared/data benchmarks/gpu_zoo.sh
#   OUT=/tmp/out DATA=../shared/data DEVICE=cpu EPOCHS_MSHNET=1 EPOCHS_OTHER=1 LIMIT=8 TEST_LIMIT=2 BUDGET_S=300 benchmarks/gpu_zoo.sh
#
# Each training is stopped after BUDGET_S seconds (default 420) and keeps its best epoch so far; the manifest
# records the epochs completed and the epochs planned. Needs the irbench dependencies importable by python.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that receives the results}"
DATA=${DATA:-../shared/data}
DEVICE=${DEVICE:-cuda}
EPOCHS_MSHNET=${EPOCHS_MSHNET:-400}
EPOCHS_OTHER=${EPOCHS_OTHER:-400}
BUDGET_S=${BUDGET_S:-420}
LIMIT=${LIMIT:-}  # training images per run (smoke runs)
TEST_LIMIT=${TEST_LIMIT:-}  # test images scored per run (smoke runs)
WORK=$(mktemp -d)
export PYTHONPATH=.

runs=(
  "mshnet nudt-sirst $EPOCHS_MSHNET"
  "mshnet irstd1k $EPOCHS_MSHNET"
  "dnanet nudt-sirst $EPOCHS_OTHER"
  "isnet nudt-sirst $EPOCHS_OTHER"
  "alcnet nudt-sirst $EPOCHS_OTHER"
  "acm nudt-sirst $EPOCHS_OTHER"
  "mdvsfa nudt-sirst $EPOCHS_OTHER"
)
for run in "${runs[@]}"; do
  read -r method dataset epochs <<< "$run"
  timeout --signal=INT "$BUDGET_S" python -m benchmark.cli train --method "$method" --dataset "$dataset" \
    --data-root "$DATA" --epochs "$epochs" --device "$DEVICE" ${LIMIT:+--limit "$LIMIT"} \
    --out "$WORK/train/${method}_${dataset}" > "$WORK/${method}_${dataset}.log" 2>&1 &
done
wait || true  # a training stopped by its budget exits non-zero; its best epoch is kept

mkdir -p "$WORK/zoo"
for run in "${runs[@]}"; do
  read -r method dataset _ <<< "$run"
  if [ -f "$WORK/train/${method}_${dataset}/best.pth" ]; then
    python -m benchmark.zoo_publish "$WORK/train/${method}_${dataset}" --data-root "$DATA" --zoo-dir "$WORK/zoo" \
      ${TEST_LIMIT:+--limit "$TEST_LIMIT"} >> "$WORK/publish.log" 2>&1 || echo "publishing ${method} ${dataset} failed" >> "$WORK/publish.log"
  fi
  cp "$WORK/train/${method}_${dataset}/history.json" "$WORK/${method}_${dataset}.history.json" 2>/dev/null || true
done
mkdir -p "$OUT" "$WORK/logs"
cp "$WORK"/*.log "$WORK/logs/"
cp "$WORK"/*.history.json "$WORK/logs/" 2>/dev/null || true
tar -cf "$OUT/zoo_weights.tar" -C "$WORK/zoo" .
cp "$WORK/zoo/manifest.json" "$OUT/results.json" 2>/dev/null || echo '{"entries": []}' > "$OUT/results.json"
tar -czf "$OUT/logs.tar.gz" -C "$WORK/logs" .
rm -rf "$WORK"
ls -l "$OUT"
