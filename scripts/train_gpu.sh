#!/usr/bin/env bash
# Fine-tune derain, dehaze and dereflect side by side on one lent GPU within one 10-minute call
# (issue 18): each starts from committed weights (below), trains until STEPS or TRAIN_S seconds,
# whichever comes first (a SIGTERM makes glsgn train save checkpoints/last.pt and stop, so a later
# call can --resume), then its last checkpoint is exported and scored on every family folder.
#
#   scripts/train_gpu.sh [OUT_DIR]        (default: $OUT, which the device tool returns, else runs-gpu)
#
# Writes OUT_DIR/runs/TASK/ (checkpoints, metrics.jsonl), OUT_DIR/logs/TASK.log,
# OUT_DIR/glsgn-TASK-gpu.safetensors and OUT_DIR/figures-TASK.{md,json} (family_table.py; with
# BASELINE=1 the starting weights are scored alongside). A run folder already holding last.pt resumes.
#
# Knobs (environment):
#   DATA=data/gpu       the pack from scripts/pack_gpu_data.py: DATA/train (clean photos), DATA/val
#   PYTHON=python3      interpreter with torch; the repository is used through PYTHONPATH, no install
#   DEVICE=cuda         cuda | cpu
#   TASKS="derain dehaze dereflect"
#   FROM_DERAIN, FROM_DEHAZE, FROM_DEREFLECT  starting weights (they fix the architecture; CONFIG
#                       only applies to a run from scratch). Defaults, as in scripts/train_defaults.sh:
#                       derain from the bundled glsgn-derain (glsgn-cpu); dehaze from the same derain
#                       weights (the bundled glsgn-dehaze is a glsgn-lite); dereflect from its glsgn-cpu
#                       candidate, candidates/glsgn-dereflect-cpu-v2.safetensors
#   STEPS=3000          LR-schedule length (STEPS_TASK overrides one task), WARMUP=STEPS/20
#   LR=1e-4             fine-tuning rate; a task starting from scratch gets LR_SCRATCH=3e-4 (LR_TASK overrides)
#   TRAIN_S=360         seconds of training per run before the SIGTERM (the runs share the time)
#   DEADLINE_S=570      the whole call's limit; export and scoring are cut to what is left
#   BATCH=16 CROP=256x256 WORKERS=4 (per run; three runs share 16 cores) CONFIG=glsgn-cpu
#   BASELINE=1          also score the starting weights
#   DECOY_SHARE=0.5     derain only: share of pairs with dark scene lines to keep (glsgn train --decoy-share;
#                       dehaze has decoys too, off here: one CPU trial moved its worst clean photo by nothing)
#   CLEAN_SHARE=0.5     derain only: share of clean pairs, as in v5's last stage (a lower share undid its
#                       clean-photo figures: 46.2 against 51.7 dB at 0.3; docs/MODELS.md)
#   KEEP_WEIGHT=10      derain only: the coarse keep term (glsgn train --keep-weight), as in v7's last
#                       stage: on the CPU, weight 3 (v6's stages) left fewer renders below their input
#                       than v5 (one against four), and weight 10 none, for 2.0-2.6 dB less on heavy rain than
#                       v6 (v7, which averages v6 back in: 1.0-1.2 less; docs/MODELS.md); 0 turns it off
#   KEEP_SCOPE=blocks   derain only: where the keep term counts (glsgn train --keep-scope): blocks, as in v7's
#                       stage; pairs counts clean pairs only, as in v8's two newer stages, which used
#                       KEEP_WEIGHT=20 (0.5-0.9 dB more on heavy rain than the weight-10 blocks stage, 0.04-0.57
#                       less on refraction). pairs at the default weight 10 (or at 30) left refraction renders
#                       below their input on the CPU: set both or neither (docs/MODELS.md)
#   DERAIN_EXCLUDE=     derain families withheld (e.g. refraction, as for glsgn-derain v4); default none, as v8
#   SMOKE=1             a CPU rehearsal: tiny pack, 2 steps of 64x64 crops (about 2.5 min on a
#                       loaded 2-core machine, where one such step takes ~10 s)
#
# Device call (the pack is made here first: python scripts/pack_gpu_data.py /work/data-new/train
# /work/val data/gpu --val-side 640):
#   run(command="bash scripts/train_gpu.sh $OUT", carry=["data/gpu"], timeout_s=600)
# CPU smoke:  SMOKE=1 DEVICE=cpu PYTHON=.venv/bin/python scripts/train_gpu.sh /tmp/gpu-smoke
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
OUT_DIR=${1:-${OUT:-runs-gpu}}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-data/gpu}
TASKS=${TASKS:-derain dehaze dereflect}
DEADLINE_S=${DEADLINE_S:-570}
BASELINE=${BASELINE:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# Three trainers plus their loaders on 16 cores: keep each process's math threads few.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
glsgn() { "$PYTHON" -m glsgn_cli "$@"; }
left() { echo $((DEADLINE_S - (SECONDS - T0))); }

mkdir -p "$OUT_DIR/logs" "$OUT_DIR/runs"
if [ "${SMOKE:-0}" = 1 ]; then
    # A miniature of the real pack, made by the same script, so the rehearsal also tests packing.
    "$PYTHON" scripts/pack_gpu_data.py "$DATA/train" "$DATA/val" "$OUT_DIR/smoke-data" \
        --max-side 256 --val-side 96 --limit 2 --budget-mb 5
    DATA=$OUT_DIR/smoke-data
    : "${STEPS:=2}" "${TRAIN_S:=150}" "${BATCH:=1}" "${CROP:=64x64}" "${WORKERS:=0}" "${LOG_EVERY:=1}"
fi
STEPS=${STEPS:-3000}
TRAIN_S=${TRAIN_S:-360}
for d in "$DATA/train" "$DATA/val"; do
    [ -d "$d" ] || { echo "train_gpu: $d missing (make it with scripts/pack_gpu_data.py and carry it)" >&2; exit 1; }
done
# Fail in seconds, not after the training, when the machine lacks what the script assumes.
"$PYTHON" -c "import torch, typer, safetensors, PIL
assert '$DEVICE' != 'cuda' or torch.cuda.is_available(), 'no CUDA device'
print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

start_weights() {  # TASK -> file, or nothing for a fresh start
    local var="FROM_${1^^}"
    if [ -n "${!var+x}" ]; then echo "${!var}"; return; fi
    case $1 in
        dereflect) ls candidates/glsgn-dereflect-cpu-v2.safetensors 2>/dev/null || true ;;
        *) GLSGN_OFFLINE=1 glsgn models path glsgn-derain 2>/dev/null || true ;;
    esac
}

train_one() {  # TASK: trains in OUT_DIR/runs/TASK until its step count or TRAIN_S
    local task=$1 run=$OUT_DIR/runs/$1 from steps lr args=()
    from=$(start_weights "$task")
    local s="STEPS_${task^^}" l="LR_${task^^}"
    steps=${!s:-$STEPS}
    if [ -n "$from" ]; then lr=${!l:-${LR:-1e-4}}; else lr=${!l:-${LR_SCRATCH:-3e-4}}; fi
    if [ -f "$run/checkpoints/last.pt" ]; then
        args=(--resume --steps "$steps")
    else
        args=(--task "$task" --data "$DATA/train" --config "${CONFIG:-glsgn-cpu}" --steps "$steps"
              --warmup "${WARMUP:-$((steps / 20))}" --lr "$lr" --batch "${BATCH:-16}" --crop "${CROP:-256x256}"
              --ema 0.999 --precision auto --perceptual-weight 0 --adversarial-weight 0 --seed 0)
        [ -n "$from" ] && args+=(--from "$from")
        # Dark scene lines (reeds, wires) kept in input and target: derain v3's fix (docs/DATA.md, Decoys).
        # A family can be withheld (v4 left out refraction); v8, which this run continues, has every family.
        [ "$task" = derain ] && args+=(--decoy-share "${DECOY_SHARE:-0.5}" --clean-share "${CLEAN_SHARE:-0.5}"
                                       --keep-weight "${KEEP_WEIGHT:-10}" --keep-scope "${KEEP_SCOPE:-blocks}")
        [ "$task" = derain ] && [ -n "${DERAIN_EXCLUDE:-}" ] && args+=(--exclude-family "$DERAIN_EXCLUDE")
    fi
    echo "== $task: from ${from:-scratch}, lr $lr, $steps steps, at most ${TRAIN_S}s" | tee "$OUT_DIR/logs/$task.log"
    # --foreground: the SIGTERM goes to glsgn train alone; its loader workers must live until it has saved.
    local rc=0
    timeout --foreground --signal=TERM --kill-after=60 "$TRAIN_S" \
        "$PYTHON" -m glsgn_cli train --out "$run" "${args[@]}" --workers "${WORKERS:-4}" --device "$DEVICE" \
        --log-every "${LOG_EVERY:-50}" --save-every "${SAVE_EVERY:-500}" >>"$OUT_DIR/logs/$task.log" 2>&1 || rc=$?
    # 124: stopped by the SIGTERM, as planned; anything else is a failure.
    if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then echo "== $task: glsgn train failed ($rc), see $OUT_DIR/logs/$task.log" >&2; return 1; fi
}

pids=()
for task in $TASKS; do train_one "$task" & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
echo "== training done after $((SECONDS - T0))s"
for task in $TASKS; do tail -n 3 "$OUT_DIR/logs/$task.log" | sed "s/^/   $task: /"; done

# Export first: the weights are worth more than the figures if the deadline cuts the scoring short.
exported=()
for task in $TASKS; do
    last=$OUT_DIR/runs/$task/checkpoints/last.pt
    if [ -f "$last" ]; then
        glsgn models export "$last" -o "$OUT_DIR/glsgn-$task-gpu.safetensors" --force && exported+=("$task")
    else
        echo "== $task: no checkpoint to export" >&2; failed=1
    fi
done

pids=()
for task in "${exported[@]}"; do
    models=("$OUT_DIR/glsgn-$task-gpu.safetensors")
    from=$(start_weights "$task")
    # The starting weights as a baseline, when they are a model of this task (dehaze starts from derain's).
    if [ "$BASELINE" = 1 ] && [ -n "$from" ] && [ "$("$PYTHON" -c "import sys; from glsgn_core.weights.files import read_metadata
print(read_metadata(sys.argv[1])['task'])" "$from" 2>/dev/null)" = "$task" ]; then models+=("$from"); fi
    budget=$(left)
    if [ "$budget" -lt 10 ]; then echo "== no time left to score $task" >&2; continue; fi
    if [ -f scripts/family_table.py ]; then
        timeout "$budget" "$PYTHON" scripts/family_table.py "$DATA/val" "${models[@]}" --device "$DEVICE" \
            --json "$OUT_DIR/figures-$task.json" >"$OUT_DIR/figures-$task.md" 2>"$OUT_DIR/logs/figures-$task.log" &
    else
        (for fam in "$DATA"/val/"$task"-*/; do
            fam=${fam%/}; echo "== ${fam##*/}"
            timeout "$budget" "$PYTHON" -m glsgn_cli eval --weights "${models[0]}" --data "$fam" --device "$DEVICE" --json
        done >"$OUT_DIR/figures-$task.md" 2>"$OUT_DIR/logs/figures-$task.log") &
    fi
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
for task in "${exported[@]}"; do echo "== $task"; cat "$OUT_DIR/figures-$task.md" 2>/dev/null || true; done
echo "== all done after $((SECONDS - T0))s; outputs in $OUT_DIR"
exit "$failed"
