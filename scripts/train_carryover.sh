#!/usr/bin/env bash
# Recipe for the v2 restoration models on the degradation engine (docs/DATA.md, docs/MODELS.md):
#
#   scripts/train_carryover.sh [DATA_DIR] [RUNS_DIR] [VAL_DIR]
#
# 1. fetches the allowed photos (scripts/fetch_photos.sh; 36 train, 8 held-out);
# 2. writes fixed validation pairs: every family of every task on the whole held-out photos
#    (seed 202), and VAL_DIR/clean/ (the photos themselves, for the no-harm figure);
# 3. trains, per task, the all-families model (ALL=1) and the leave-one-family-out model (LOFO=1):
#    derain without `refraction`, dehaze without `patchy`, dereflect without `ghosted`. derain and
#    dehaze fine-tune the v1 models; dereflect has no v1 and starts from glsgn-derain's weights (the
#    same architecture, a trained restorer rather than random weights). All on full-size photos
#    taken at a random scale (dehaze at 640 px did worse in v2: docs/DATA.md);
# 4. exports the weights and prints the family tables (scripts/family_table.py; RUNS/table-carryover-TASK.json).
#
# Knobs (environment): STEPS (3000), CROP (256x256), BATCH (4), THREADS (1 per run), ALL (1), LOFO (1)
# (ALL=0 LOFO=1: the three leave-one-family-out runs alone; both at 1 start six runs at once),
# GLSGN and PYTHON (from the environment glsgn is installed in).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
RUNS=${2:-runs}
VAL=${3:-$DATA/val}
STEPS=${STEPS:-3000}
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
pids=()
train_or_resume() {  # OUT ARGS...: a new run, or the continuation of one (its recipe is in its checkpoint)
    local out=$1; shift
    if [ -f "$out/checkpoints/last.pt" ]; then
        $GLSGN train --out "$out" --resume >> "$out.log" 2>&1 &
    else
        $GLSGN train --out "$out" "$@" > "$out.log" 2>&1 &
    fi
    pids+=($!)
}
SHARED=(--config glsgn-lite --batch "${BATCH:-4}" --crop "${CROP:-256x256}" --lr 2e-4 --warmup 100 --steps "$STEPS"
        --perceptual-weight 0 --adversarial-weight 0 --ema 0.999 --precision auto --save-every 100 --log-every 25
        --workers 1 --seed 0)
declare -A FROM=([derain]=glsgn-derain [dehaze]=glsgn-dehaze [dereflect]=glsgn-derain)
declare -A WITHHELD=([derain]=refraction [dehaze]=patchy [dereflect]=ghosted)
declare -A BUNDLED=([derain]=glsgn-derain [dehaze]=glsgn-dehaze)  # dereflect has no bundled model yet
for task in derain dehaze dereflect; do
    [ "${ALL:-1}" = 1 ] && train_or_resume "$RUNS/$task-all" --task "$task" --data "$DATA/train" --from "${FROM[$task]}" "${SHARED[@]}"
    [ "${LOFO:-1}" = 1 ] && train_or_resume "$RUNS/$task-lofo" --task "$task" --data "$DATA/train" --from "${FROM[$task]}" \
        --exclude-family "${WITHHELD[$task]}" "${SHARED[@]}"
done
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed run stops the recipe before its weights are scored

for run in "$RUNS"/*-all "$RUNS"/*-lofo; do
    [ -d "$run" ] || continue
    $GLSGN models export "$run" -o "$run.safetensors" --overwrite 2>/dev/null || $GLSGN models export "$run" -o "$run.safetensors" --force
done
for task in derain dehaze dereflect; do
    set -- "$RUNS/$task"-*.safetensors
    [ -f "$1" ] || continue
    # Beside the bundled model, where the task has one, for comparison. Not table-TASK.json: that is
    # train_defaults.sh's name, and both recipes may share RUNS.
    "$PYTHON" scripts/family_table.py "$VAL" ${BUNDLED[$task]:-} "$@" --json "$RUNS/table-carryover-$task.json"
done
