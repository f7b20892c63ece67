#!/usr/bin/env bash
# Reproducible recipe for the bundled default models (glsgn-derain, glsgn-dehaze, glsgn-dereflect).
#
#   scripts/train_defaults.sh [DATA_DIR] [RUNS_DIR]
#
# 1. fetches the allowed Debian photo packages and splits train / held-out (scripts/fetch_photos.sh);
# 2. writes fixed degraded pairs from the held-out photos: small crops for validation during
#    training, and the full photos (>= 1920x1080) for the final figures;
# 3. trains the three tasks in parallel with `glsgn train` (CPU, bf16 autocast where supported),
#    then GLA-Net x2 and x4 side by side;
# 4. exports each run's best checkpoint and prints its held-out PSNR/SSIM with `glsgn eval`;
#    for dehaze and dereflect, first the guide-size table on training photos with fresh degradations
#    (scripts/tune_guide.py), then the held-out figures at the registered guide size (640).
#
# Budget knobs (environment): STEPS (default 2000; DEREFLECT_STEPS 1500), CROP (256x256), BATCH (4),
# THREADS (1 per run).
# Tools: GLSGN (default glsgn) and PYTHON (python3), both from the environment glsgn is installed in.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
RUNS=${2:-runs}
STEPS=${STEPS:-2000}
CROP=${CROP:-256x256}
BATCH=${BATCH:-4}
GLSGN=${GLSGN:-glsgn}
export OMP_NUM_THREADS=${THREADS:-1}

[ -d "$DATA/train-plus" ] || scripts/fetch_photos.sh "$DATA"
mkdir -p "$RUNS"
for task in derain dehaze dereflect sr2 sr4; do
    [ -d "$DATA/val-$task" ] || $GLSGN synth --task "$task" --clean "$DATA/heldout" -o "$DATA/val-$task" --crop 512x512 --n 10 --seed 101
    [ -d "$DATA/heldout-$task" ] || $GLSGN synth --task "$task" --clean "$DATA/heldout" -o "$DATA/heldout-$task" --seed 202
done
# dereflect trains and validates on photos shrunk to the size it runs at (guide 640): whole images
[ -d "$DATA/val-dereflect-640" ] || $GLSGN synth --task dereflect --clean "$DATA/heldout" -o "$DATA/val-dereflect-640" \
    --max-side 640 --seed 101

# train_or_resume OUT ARGS...: start a run in the background, or continue it from its last
# checkpoint (a resumed run takes its recipe from the checkpoint, so ARGS are not given again).
train_or_resume() {
    local out=$1; shift
    if [ -f "$out/checkpoints/last.pt" ]; then
        $GLSGN train --out "$out" --resume --workers 1 >> "$out.log" 2>&1 &
    else
        $GLSGN train --out "$out" "$@" > "$out.log" 2>&1 &
    fi
}

SHARED=(--config glsgn-lite --batch "$BATCH" --crop "$CROP" --lr 4e-4 --perceptual-weight 0 --adversarial-weight 0
        --ema 0.999 --precision auto --val-every 250 --save-every 250 --log-every 25 --workers 1 --seed 0)
for task in derain dehaze; do
    train_or_resume "$RUNS/$task" --task "$task" --data "$DATA/train" --val "$DATA/val-$task" \
        --steps "$STEPS" --warmup 200 "${SHARED[@]}"
done
# Dereflect: reflections are other pictures of the training folder, so it adds the illustrations;
# photos shrunk to 640 px, the guide size it runs at; 1,500 steps (validation peaks early).
train_or_resume "$RUNS/dereflect" --task dereflect --data "$DATA/train-plus" --val "$DATA/val-dereflect-640" \
    --max-side 640 --steps "${DEREFLECT_STEPS:-1500}" --warmup 150 "${SHARED[@]}"
wait

# GLA-Net x2 / x4 (glanet-tiny): bicubic-downscaled crops of the same photos, L1.
for scale in 2 4; do
    if [ "$scale" = 2 ]; then crop=128x128 steps=2000 every=200; else crop=192x192 steps=2500 every=250; fi
    train_or_resume "$RUNS/sr$scale" --task "sr$scale" --data "$DATA/train" --val "$DATA/val-sr$scale" \
        --config glanet-tiny --steps "$steps" --batch 8 --crop "$crop" --lr 4e-4 --warmup 100 --ema 0.999 \
        --precision auto --val-every "$every" --save-every 200 --log-every 25 --workers 1 --seed 0
done
wait

for scale in 2 4; do
    $GLSGN models export "$RUNS/sr$scale" -o "$RUNS/glanet-x$scale-tiny-v1.safetensors" --force
    echo "== sr$scale (held-out, full-size photos; input = bicubic)"
    $GLSGN eval --weights "$RUNS/glanet-x$scale-tiny-v1.safetensors" --data "$DATA/heldout-sr$scale" --device cpu \
        --report "$RUNS/sr$scale-heldout.html"
done

for task in dehaze dereflect; do
    [ -d "$DATA/tune-$task" ] || $GLSGN synth --task "$task" --clean "$DATA/train" -o "$DATA/tune-$task" --seed 303
done
for task in derain dehaze dereflect; do
    # Dereflect exports its last weights: its five whole validation images score mostly how well the
    # model guessed each reflection's mean (docs/MODELS.md), which is noise for picking a checkpoint.
    src=$RUNS/$task; [ "$task" = dereflect ] && src=$RUNS/dereflect/checkpoints/last.pt
    $GLSGN models export "$src" -o "$RUNS/glsgn-$task-lite-v1.safetensors" --force
    guide=(); [ "$task" != derain ] && guide=(--guide 640)
    if [ "$task" != derain ]; then
        echo "== $task guide sizes (training photos, fresh degradations; the registry row takes the best mean)"
        "${PYTHON:-python3}" scripts/tune_guide.py "$RUNS/glsgn-$task-lite-v1.safetensors" "$DATA/tune-$task"
    fi
    echo "== $task (held-out, full-size photos)"
    $GLSGN eval --weights "$RUNS/glsgn-$task-lite-v1.safetensors" --data "$DATA/heldout-$task" --device cpu \
        "${guide[@]}" --report "$RUNS/$task-heldout.html"
done
