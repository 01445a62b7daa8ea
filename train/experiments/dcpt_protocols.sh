#!/usr/bin/env bash
# DCPT vs training from scratch under both comparison protocols, several seeds (the training
# half; the evaluation and table: python train/experiments/dcpt_protocols.py --runs $RUNS).
#
#   (dcpt)       pretrain.py for P steps, then finetune.py --init for F steps
#   (scratch-i)  finetune.py from random weights for F steps: the paper's protocol, the same
#                fine-tuning schedule with and without pre-training
#   (scratch-ii) finetune.py from random weights for P + F steps: the same total number of
#                optimiser steps, pre-training steps counted
#
#   SEEDS="0 1" P=1000 F=2000 bash train/experiments/dcpt_protocols.sh
#
# The default model's stage-1 recipe (train/configs/default-model.yaml) and photos
# (python -m dcpt_sdk.train.photos DIR); every run resumes from its last checkpoint when the
# script runs again, and a finished run is skipped. Run state lives in $RUNS, outside the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."

ACCELERATE=${ACCELERATE:-.venv/bin/accelerate}
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-$HOME/dcpt-runs/protocols}
PHOTOS=${PHOTOS:-$RUNS/photos}
CONFIG=${CONFIG:-train/configs/default-model.yaml}
SEEDS=${SEEDS:-"0 1"}
P=${P:-1000}
F=${F:-2000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
LAUNCH=("$ACCELERATE" launch --num_processes 1 --num_machines 1 --mixed_precision no
        --dynamo_backend no)

[[ -d "$PHOTOS/train" ]] || "$PY" -m dcpt_sdk.train.photos "$PHOTOS"

# run NAME SCRIPT ARGS...: skip a finished run, resume a cut-short one.
run() {
    local out=$RUNS/$1 script=$2
    shift 2
    [[ -f "$out/DONE" ]] && { echo "[$(basename "$out")] done already"; return; }
    local resume=()
    if compgen -G "$out/checkpoints/step-*" >/dev/null; then
        resume=(--resume)
    elif [[ -e "$out/metrics.jsonl" ]]; then
        resume=(--overwrite)
    fi
    echo "[$(basename "$out")] $(date -u +%FT%TZ) start"
    nice -n 15 "${LAUNCH[@]}" "$script" --config "$CONFIG" --data "$PHOTOS" --output-dir "$out" \
        "${resume[@]}" "$@"
    touch "$out/DONE"
    echo "[$(basename "$out")] $(date -u +%FT%TZ) end"
}

for seed in $SEEDS; do
    s=(--set "training.seed=$seed")
    run "seed$seed/dcpt-pretrain" train/pretrain.py --max-steps "$P" "${s[@]}"
    run "seed$seed/dcpt" train/finetune.py --max-steps "$F" "${s[@]}" \
        --init "$RUNS/seed$seed/dcpt-pretrain/restorer.safetensors"
    # No pre-trained classifier head to keep training in the scratch arms.
    run "seed$seed/scratch-i" train/finetune.py --max-steps "$F" "${s[@]}" \
        --set finetune.train_classifier=false
    run "seed$seed/scratch-ii" train/finetune.py --max-steps "$((P + F))" "${s[@]}" \
        --set finetune.train_classifier=false
done
