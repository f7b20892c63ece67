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
#    for dehaze, first the guide-size table on training photos with fresh haze
#    (scripts/tune_guide.py), then the held-out figures at the registered guide size (640).
#
# Budget knobs (environment): STEPS (default 2000), CROP (256x256), BATCH (4), THREADS (1 per run).
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

for task in derain dehaze dereflect; do
    # Reflections are other pictures of the training folder: dereflect adds the illustrations.
    data=$DATA/train; [ "$task" = dereflect ] && data=$DATA/train-plus
    train_or_resume "$RUNS/$task" --task "$task" --data "$data" --val "$DATA/val-$task" \
        --config glsgn-lite --steps "$STEPS" --batch "$BATCH" --crop "$CROP" --lr 4e-4 --warmup 200 \
        --perceptual-weight 0 --adversarial-weight 0 --ema 0.999 --precision auto \
        --val-every 250 --save-every 250 --log-every 25 --workers 1 --seed 0
done
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

[ -d "$DATA/tune-dehaze" ] || $GLSGN synth --task dehaze --clean "$DATA/train" -o "$DATA/tune-dehaze" --seed 303
for task in derain dehaze dereflect; do
    $GLSGN models export "$RUNS/$task" -o "$RUNS/glsgn-$task-lite-v1.safetensors" --force
    guide=(); [ "$task" = dehaze ] && guide=(--guide 640)
    if [ "$task" = dehaze ]; then
        echo "== dehaze guide sizes (training photos, fresh haze; the registry row takes the best mean)"
        "${PYTHON:-python3}" scripts/tune_guide.py "$RUNS/glsgn-dehaze-lite-v1.safetensors" "$DATA/tune-dehaze"
    fi
    echo "== $task (held-out, full-size photos)"
    $GLSGN eval --weights "$RUNS/glsgn-$task-lite-v1.safetensors" --data "$DATA/heldout-$task" --device cpu \
        "${guide[@]}" --report "$RUNS/$task-heldout.html"
done
