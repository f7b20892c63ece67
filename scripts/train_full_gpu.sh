#!/usr/bin/env bash
# glsgn-full for derain, dehaze and dereflect on one CUDA GPU (docs/MODELS.md, "glsgn-full on a GPU").
#
#   scripts/train_full_gpu.sh [DATA_DIR] [RUNS_DIR]
#
# Needs the folders scripts/train_defaults.sh makes (train, train-plus, heldout-*, val-dereflect-640).
# Trains the three models one after another, exports the last (EMA) weights and prints the held-out
# figures: derain at full size, dehaze and dereflect at guide 640, as their glsgn-lite models run.
# Session 5's figures came from STEPS=900 (derain, dereflect; lr 3e-4) and DEHAZE_STEPS=300
# (lr 1e-4; lr 3e-4 diverged near step 450) on an H100: derain and dereflect side by side for
# 14 minutes, dehaze alone for 5. The data loader, fixed since, set that pace (0.8-0.9 s/step).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
RUNS=${2:-runs}
STEPS=${STEPS:-900}
GLSGN=${GLSGN:-glsgn}
mkdir -p "$RUNS"
SHARED=(--config glsgn-full --batch 16 --crop 256x256 --perceptual-weight 0 --adversarial-weight 0 --ema 0.999
        --precision auto --workers "${WORKERS:-6}" --seed 0 --device cuda --log-every 50 --save-every 1000)

run() {  # NAME TASK STEPS WARMUP LR GUIDE ARGS...
    local name=$1 task=$2 steps=$3 warmup=$4 lr=$5 guide=$6; shift 6
    [ -f "$RUNS/$name/checkpoints/last.pt" ] || $GLSGN train --out "$RUNS/$name" --task "$task" --steps "$steps" \
        --warmup "$warmup" --lr "$lr" "${SHARED[@]}" "$@"
    $GLSGN models export "$RUNS/$name/checkpoints/last.pt" -o "$RUNS/$name.safetensors" --force
    echo "== $name (held-out, full-size photos)"
    $GLSGN eval --weights "$RUNS/$name.safetensors" --data "$DATA/heldout-$task" --device cuda --guide "$guide"
}
DEHAZE_STEPS=${DEHAZE_STEPS:-300}
run glsgn-full-derain derain "$STEPS" $((STEPS / 20)) 3e-4 0 --data "$DATA/train"
run glsgn-full-dehaze dehaze "$DEHAZE_STEPS" $((DEHAZE_STEPS / 10)) 1e-4 640 --data "$DATA/train"
run glsgn-full-dereflect dereflect "$STEPS" $((STEPS / 20)) 3e-4 640 --data "$DATA/train-plus" --max-side 640 \
    --val "$DATA/val-dereflect-640" --val-every $((STEPS / 4))
