#!/usr/bin/env bash
# Recipe for the bundled restoration models, v2 (glsgn-cpu; issue 18; docs/MODELS.md):
#
#   scripts/train_defaults.sh [DATA_DIR] [RUNS_DIR] [VAL_DIR]
#
# 1. fetches the allowed photos (scripts/fetch_photos.sh: 36 train, 8 held-out);
# 2. writes the fixed validation pairs: every family of every task on the whole held-out photos
#    (seed 202), and VAL_DIR/clean/ (the photos themselves, for the no-harm figure);
# 3. trains, two runs at a time (one thread each; 2 cores), all on full-size photos taken at a random
#    scale, 256x256 crops, batch 4, L1, EMA 0.999, a fifth of the pairs clean:
#      derain-v4      glsgn-cpu from scratch, a 4,000-step schedule stopped at 2,717 (session 9);
#      derain         derain-v4 continued: 2,500 steps at lr 1e-4, clean share 0.3;
#      dehaze, dereflect   from derain-v4's weights (a trained restorer of the same shape), 5,000 steps;
#      leave-one-family-out (LOFO=1): derain without `refraction` on derain-v4's schedule from scratch;
#      dehaze without `patchy` and dereflect without `ghosted` from derain-v4 (which saw no haze or
#      glass), stopped at step 2,000 of the 5,000-step schedule: compare them with the all-family runs'
#      checkpoints at step 2,000 (SNAP=2000 copies those aside as RUN/stepN.pt);
# 4. exports float16 weights files (8 MB each) and prints the family tables (scripts/family_table.py).
#
# Every run resumes from its checkpoints/last.pt when there is one, so the script can be stopped and
# started again. Knobs (environment): THREADS (1 per run), LOFO (1), GLSGN and PYTHON (the
# environment glsgn is installed in).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
RUNS=${2:-runs}
VAL=${3:-$DATA/val}
GLSGN=${GLSGN:-glsgn}
PYTHON=${PYTHON:-python3}
export OMP_NUM_THREADS=${THREADS:-1}

[ -d "$DATA/train" ] || scripts/fetch_photos.sh "$DATA"
for task in derain dehaze dereflect; do
    for family in $($GLSGN synth --list-families --json | "$PYTHON" -c "import json, sys; print(*(f['name'] for f in json.load(sys.stdin)['$task']))"); do
        [ -d "$VAL/$task-$family" ] || $GLSGN synth --task "$task" --family "$family" --clean "$DATA/heldout" -o "$VAL/$task-$family" --seed 202
    done
done
[ -d "$VAL/clean" ] || { mkdir -p "$VAL/clean" && cp "$VAL/derain-streaks/target/"* "$VAL/clean/"; }
mkdir -p "$RUNS"

run() {  # OUT ARGS...: a new run, or the continuation of one (its recipe is in its checkpoint)
    local out=$1; shift
    if [ -f "$out/checkpoints/last.pt" ]; then
        $GLSGN train --out "$out" --resume >> "$out.log" 2>&1
    else
        $GLSGN train --out "$out" "$@" > "$out.log" 2>&1
    fi
}
snap() {  # RUN STEP: keep the first checkpoint saved at or after STEP as RUN/stepN.pt (the LOFO comparison)
    while ! ls "$1"/step*.pt >/dev/null 2>&1; do
        s=$("$PYTHON" -c "import torch; print(torch.load('$1/checkpoints/last.pt', weights_only=True)['step'])" 2>/dev/null || echo 0)
        if [ "$s" -ge "$2" ]; then cp "$1/checkpoints/last.pt" "$1/step$s.pt"; fi
        sleep 30
    done
}
COMMON=(--config glsgn-cpu --data "$DATA/train" --batch 4 --crop 256x256 --perceptual-weight 0 --adversarial-weight 0
        --ema 0.999 --precision auto --save-every 250 --log-every 50 --workers 1 --seed 0 --val-every 100000)
V4=$RUNS/glsgn-derain-cpu-v4.safetensors

run "$RUNS/derain-v4" --task derain --steps 4000 --until 2717 --lr 2e-4 --warmup 100 "${COMMON[@]}" &
[ "${LOFO:-1}" = 1 ] && run "$RUNS/derain-lofo" --task derain --exclude-family refraction --steps 4000 --until 2717 \
    --lr 2e-4 --warmup 100 "${COMMON[@]}" &
wait
[ -f "$V4" ] || $GLSGN models export "$RUNS/derain-v4/checkpoints/last.pt" -o "$V4"
for task in dehaze dereflect; do
    (snap "$RUNS/$task-all" 2000 & watcher=$!
     run "$RUNS/$task-all" --task "$task" --from "$V4" --steps 5000 --lr 2e-4 --warmup 100 "${COMMON[@]}"
     kill "$watcher" 2>/dev/null || true) &
done
wait
run "$RUNS/derain-all" --task derain --from "$V4" --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.3 "${COMMON[@]}" &
if [ "${LOFO:-1}" = 1 ]; then
    declare -A WITHHELD=([dehaze]=patchy [dereflect]=ghosted)
    for task in dehaze dereflect; do
        run "$RUNS/$task-lofo" --task "$task" --exclude-family "${WITHHELD[$task]}" --from "$V4" --steps 5000 --until 2000 \
            --lr 2e-4 --warmup 100 "${COMMON[@]}"
    done
fi
wait

for run in "$RUNS"/*-all "$RUNS"/*-lofo "$RUNS"/*-all/step*.pt; do
    [ -e "$run" ] || continue
    out=${run%.pt}; out=${out/\/step/-step}
    $GLSGN models export "$run" -o "$out.safetensors" --half --overwrite
done
for task in derain dehaze dereflect; do
    "$PYTHON" scripts/family_table.py "$VAL" "$RUNS/$task"-*.safetensors --guide 0 --json "$RUNS/table-$task.json"
done
