#!/usr/bin/env bash
# Reproduce the built-in default model (dcpt_sdk/zoo/default.safetensors) on a CPU, with the
# project's own scripts: collect the packaged photos, DCPT pre-training, all-in-one fine-tuning,
# the same fine-tuning from scratch (the quality report's baseline), then ship and evaluate.
#
#   bash train/default_model.sh            # every phase; a phase that finished is skipped
#   PHASES="finetune" bash train/default_model.sh   # one phase (resumes a cut-short run)
#
# Run state lives outside the work tree ($RUNS, default ~/dcpt-runs/default-model): a phase cut
# short continues from its last checkpoint (--resume) when the script runs again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
ACCELERATE=${ACCELERATE:-.venv/bin/accelerate}
RUNS=${RUNS:-$HOME/dcpt-runs/default-model}
CONFIG=train/configs/default-model.yaml
PRE_STEPS=${PRE_STEPS:-3000}
FT_STEPS=${FT_STEPS:-10000}
FT2_STEPS=${FT2_STEPS:-3000}
FT3_STEPS=${FT3_STEPS:-5000}
FT4_STEPS=${FT4_STEPS:-8000}
PHASES=${PHASES:-"photos pretrain finetune scratch finetune2 scratch2 finetune3 scratch3 finetune4 scratch4 ship"}
# One thread per run: two torch threads on a 2-core machine shared with other work spin against
# each other (see train/README.md); nice keeps the machine usable while it trains.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
LAUNCH=("$ACCELERATE" launch --num_processes 1 --num_machines 1 --mixed_precision no
        --dynamo_backend no)

# run_phase NAME OUTPUT_DIR SCRIPT ARGS... [-- CONFIG]: skip a finished phase, resume a
# cut-short one.
run_phase() {
    local name=$1 out=$2 script=$3 config=${PHASE_CONFIG:-$CONFIG}
    shift 3
    if [[ -f "$out/last.safetensors" || -f "$out/DONE" ]]; then
        echo "[$name] done already ($out)"
        return
    fi
    local resume=()
    if compgen -G "$out/checkpoints/step-*" >/dev/null; then
        resume=(--resume)
    elif [[ -e "$out/metrics.jsonl" ]]; then
        resume=(--overwrite) # cut short before its first checkpoint: nothing to continue
    fi
    echo "[$name] $(date -u +%FT%TZ) start"
    nice -n 10 "${LAUNCH[@]}" "$script" --config "$config" --data "$RUNS/photos" \
        --output-dir "$out" "${resume[@]}" "$@"
    touch "$out/DONE"
    echo "[$name] $(date -u +%FT%TZ) end"
}

for phase in $PHASES; do
    case $phase in
    photos) "$PY" -m dcpt_sdk.train.photos "$RUNS/photos" ;;
    pretrain) run_phase pretrain "$RUNS/pretrain" train/pretrain.py --max-steps "$PRE_STEPS" ;;
    finetune)
        run_phase finetune "$RUNS/finetune" train/finetune.py --max-steps "$FT_STEPS" \
            --init "$RUNS/pretrain/restorer.safetensors"
        ;;
    scratch)
        # The same fine-tuning schedule from random weights (the paper's comparison protocol).
        run_phase scratch "$RUNS/scratch" train/finetune.py --max-steps "$FT_STEPS" \
            --set finetune.train_classifier=false
        ;;
    finetune[234] | scratch[234])
        # A later stage continues the previous stage of the same line (DCPT or scratch) with its
        # own config; the baseline gets every stage too, so the two differ only in pre-training.
        line=${phase%[234]} stage=${phase: -1}
        previous=$line$((stage - 1))
        [[ $previous == finetune1 || $previous == scratch1 ]] && previous=$line
        steps_var=FT${stage}_STEPS
        extra=()
        [[ $line == scratch ]] && extra=(--set finetune.train_classifier=false)
        PHASE_CONFIG=train/configs/default-model-stage$stage.yaml run_phase "$phase" \
            "$RUNS/$phase" train/finetune.py --max-steps "${!steps_var}" \
            --init "$RUNS/$previous/last.safetensors" "${extra[@]}"
        ;;
    ship)
        "$PY" -m dcpt_sdk.train.ship "$RUNS/finetune4/last.safetensors" --runs "$RUNS"
        # The quality report's no-DCPT baseline (make quality), kept beside the benchmarks.
        cp "$RUNS/scratch4/last.safetensors" benchmarks/models/default-scratch-baseline.safetensors
        ;;
    *)
        echo "unknown phase '$phase' (photos pretrain finetune scratch finetune2 scratch2" \
            "finetune3 scratch3 finetune4 scratch4 ship)" >&2
        exit 2
        ;;
    esac
done
