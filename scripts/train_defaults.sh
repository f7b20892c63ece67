#!/usr/bin/env bash
# Recipe for glsgn-derain v8 (session 16), v7 (session 15), v6 (session 14), v5 (session 12), v4 and v3 (session 11), v2 and the glsgn-cpu dehaze/dereflect runs of session 10,
# and glsgn-dehaze v3 (session 16) (issue 18; docs/MODELS.md). glsgn-dehaze v3 starts from glsgn-dehaze v2, an older
# glsgn-lite model that this script does not rebuild (committed in candidates/; its recipe in candidates/README.md).
#
#   scripts/train_defaults.sh [DATA_DIR] [RUNS_DIR] [VAL_DIR]
#
# 1. fetches the allowed photos (scripts/fetch_photos.sh: 36 train, 8 held-out);
# 2. writes the fixed validation pairs: every family of every task on the whole held-out photos
#    (seed 202), and VAL_DIR/clean/ (the photos themselves, for the no-harm figure); the same
#    families drawn again with seed 303 into VAL_DIR-303 (the second set that models are chosen
#    on) and seed 404 into VAL_DIR-404 (held back: never used to choose, only to report the chosen
#    model once); neither has clean/ (the clean photos are the same);
# 3. trains, two runs at a time (one thread each), all on full-size photos taken at a random scale,
#    256x256 crops, batch 4, L1, EMA 0.999, `--precision auto` (bf16 on CPUs with AMX):
#      derain-v4      glsgn-cpu from scratch, a 4,000-step schedule stopped at 2,717 (session 9 ran
#                     this alone on 2 threads, fp32);
#      derain-all     derain-v4 continued: 2,500 steps at lr 1e-4, clean share 0.3 (glsgn-derain v2);
#      dehaze-all, dereflect-all   from derain-v4's weights, 5,000 steps; a copy of each at step
#                     2,000 (RUN/step2000.pt) is the comparison for their leave-one-family-out runs;
#      derain-lofo    (LOFO=1) `refraction` withheld, derain-v4's schedule from scratch;
#      dehaze-lofo, dereflect-lofo  (LOFO_OTHERS=1; not run in session 10) `patchy` / `ghosted`
#                     withheld, from derain-v4, stopped at step 2,000 of the 5,000-step schedule;
#    session 10 then tried, by hand, 1,500 steps with half the pairs clean and whole scenes at
#    320 px for dehaze/dereflect (commands in docs/MODELS.md);
#      derain-decoy1..N   (session 11) derain-all continued, 2,500 steps a stage, lr 1e-4, clean share
#                     0.3, decoy share 0.3 then 0.5, seeds 3, 4, ...; the last is glsgn-derain v3;
#      derain-lofo-2, derain-lofo-decoy1..N   the same stages with refraction withheld, from derain-lofo
#                     (derain-lofo-2 is derain-all's 2,500 steps at clean share 0.3, without refraction);
#      derain-lofo-clean50   then 2,500 steps at clean share 0.5: glsgn-derain v4 (LOFO=1 needed), the
#                     left-out model for refraction;
#      derain-mix, derain-mix-clean50   (sessions 11-12) the left-out chain's last decoy stage continued
#                     with every family, 2,500 steps at clean share 0.3, then 2,500 at 0.5: glsgn-derain v5;
#      derain-keep3-s12, -s13   (session 14) v5 continued twice, as its last stage plus the coarse keep
#                     term (--keep-weight 3), seeds 12 and 13; derain-v6.safetensors, the average of v5
#                     and both (`glsgn models average`), is glsgn-derain v6;
#      derain-keep10-s14   (session 15) v6 continued as those stages with --keep-weight 10, seed 14;
#                     derain-v7.safetensors, the average of v6 and it, is glsgn-derain v7;
#      derain-pairs20-s14, -s15   (session 16) v6 continued as those stages with --keep-weight 20
#                     --keep-scope pairs, seeds 14 and 15; derain-v8.safetensors, the average of v6, v6,
#                     derain-keep10-s14 and both, is glsgn-derain v8 (v5 to v8 need LOFO=1, the default);
#      dehaze-keep3-s12   (session 14) the committed glsgn-dehaze v2 continued for 1,500 steps with
#                     --keep-weight 3, half the pairs clean, seed 12; dehaze-v3.safetensors, the
#                     average of v2, v2 and it, is glsgn-dehaze v3 (session 16);
# 4. exports float16 weights files (8 MB each; glsgn-lite ones 3.5 MB) and prints the family tables (scripts/family_table.py:
#    derain at full size, dehaze and dereflect at 640 px, guided) on the seed-202 and seed-303 sets.
#
# Every run resumes from its checkpoints/last.pt when there is one (with its stop step), so the script
# can be stopped and started again. Knobs (environment): THREADS (1 per run), LOFO (1),
# LOFO_OTHERS (0), DECOY_STAGES (3), GLSGN and PYTHON (the environment glsgn is installed in).
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
        for seed in 202 303 404; do  # folders VAL, VAL-303, VAL-404
            dir=$VAL; [ "$seed" = 202 ] || dir=$VAL-$seed
            [ -d "$dir/$task-$family" ] || $GLSGN synth --task "$task" --family "$family" --clean "$DATA/heldout" \
                -o "$dir/$task-$family" --seed "$seed"
        done
    done
done
[ -d "$VAL/clean" ] || { mkdir -p "$VAL/clean" && cp "$VAL/derain-streaks/target/"* "$VAL/clean/"; }
mkdir -p "$RUNS"
# Plain `wait` returns 0 whatever its jobs did. Each background stage's PID goes into `pids`;
# wait_all waits for all of them and returns the first failure, so `set -e` stops the recipe before
# a failed stage's weights are built on or scored. (`jobs -p` would miss a job that ended early.)
# wait_pids does the same for the PIDs it is given (side-by-side stages inside a background chain):
# it waits for every one before returning, so a failed stage never leaves its partner running on.
pids=()
wait_pids() {
    local pid s rc=0
    for pid in "$@"; do wait "$pid" || { s=$?; [ "$rc" != 0 ] || rc=$s; }; done
    return "$rc"
}
wait_all() {
    local rc=0
    wait_pids "${pids[@]}" || rc=$?
    pids=()
    return "$rc"
}

run() {  # OUT UNTIL ARGS...: a new run, or the continuation of one (its recipe is in its checkpoint)
    local out=$1 until=$2; shift 2
    if [ -f "$out/checkpoints/last.pt" ]; then  # a resumption forgets the stop step: give it again
        $GLSGN train --out "$out" --resume --until "$until" >> "$out.log" 2>&1
    else
        $GLSGN train --out "$out" --until "$until" "$@" > "$out.log" 2>&1
    fi
}
COMMON=(--config glsgn-cpu --data "$DATA/train" --batch 4 --crop 256x256 --perceptual-weight 0 --adversarial-weight 0
        --ema 0.999 --precision auto --save-every 250 --log-every 50 --workers 1 --seed 0 --val-every 100000)
V4=$RUNS/derain-v4.safetensors

run "$RUNS/derain-v4" 2717 --task derain --steps 4000 --lr 2e-4 --warmup 100 "${COMMON[@]}" & pids+=($!)
if [ "${LOFO:-1}" = 1 ]; then
    run "$RUNS/derain-lofo" 2717 --task derain --exclude-family refraction --steps 4000 --lr 2e-4 --warmup 100 "${COMMON[@]}" & pids+=($!)
fi
wait_all
[ -f "$V4" ] || $GLSGN models export "$RUNS/derain-v4/checkpoints/last.pt" -o "$V4" --half
for task in dehaze dereflect; do
    # Stop at 2,000 to keep a copy for the leave-one-family-out comparison, then finish the schedule.
    (run "$RUNS/$task-all" 2000 --task "$task" --from "$V4" --steps 5000 --lr 2e-4 --warmup 100 "${COMMON[@]}"
     [ -f "$RUNS/$task-all/step2000.pt" ] || cp "$RUNS/$task-all/checkpoints/last.pt" "$RUNS/$task-all/step2000.pt"
     run "$RUNS/$task-all" 5000) & pids+=($!)
done
wait_all
run "$RUNS/derain-all" 2500 --task derain --from "$V4" --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.3 "${COMMON[@]}" & pids+=($!)
if [ "${LOFO_OTHERS:-0}" = 1 ]; then
    declare -A WITHHELD=([dehaze]=patchy [dereflect]=ghosted)
    # In the background like derain-all, so that a failure here is reported by wait_all after
    # derain-all has ended, instead of leaving it running behind an exited script.
    (for task in dehaze dereflect; do
        run "$RUNS/$task-lofo" 2000 --task "$task" --exclude-family "${WITHHELD[$task]}" --from "$V4" --steps 5000 \
            --lr 2e-4 --warmup 100 "${COMMON[@]}"
    done) & pids+=($!)
fi
wait_all

# glsgn-derain v3 (session 11): derain-all continued in stages of 2,500 steps with decoys (dark scene
# lines to keep; docs/DATA.md), and the same stages with refraction withheld from derain-lofo on.
# As run: the derain chain started from derain-all's float16 export (glsgn-derain v2), the left-out
# chain from derain-lofo-2's checkpoint; each later stage from the previous stage's checkpoint.
decoys() {  # NAME START EXTRA...: NAME-decoy1..N, the first --from START (a weights file or checkpoint)
    local name=$1 from=$2 seed=3 share=0.3; shift 2
    for i in $(seq 1 "${DECOY_STAGES:-3}"); do
        run "$RUNS/$name-decoy$i" 2500 --task derain --from "$from" --steps 2500 --lr 1e-4 \
            --warmup 50 --clean-share 0.3 --decoy-share "$share" "$@" "${COMMON[@]}" --seed "$seed"
        from=$RUNS/$name-decoy$i/checkpoints/last.pt seed=$((seed + 1)) share=0.5
    done
}
[ -f "$RUNS/derain-all.safetensors" ] || $GLSGN models export "$RUNS/derain-all/checkpoints/last.pt" -o "$RUNS/derain-all.safetensors" --half
decoys derain "$RUNS/derain-all.safetensors" & pids+=($!)
if [ "${LOFO:-1}" = 1 ]; then
    # derain-lofo-2: derain-all's 2,500 steps at clean share 0.3, without refraction
    (run "$RUNS/derain-lofo-2" 2500 --task derain --exclude-family refraction --from "$RUNS/derain-lofo/checkpoints/last.pt" \
         --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.3 "${COMMON[@]}"
     decoys derain-lofo "$RUNS/derain-lofo-2/checkpoints/last.pt" --exclude-family refraction
     # glsgn-derain v4: the left-out chain, then half the pairs clean (2 threads in session 11)
     run "$RUNS/derain-lofo-clean50" 2500 --task derain --exclude-family refraction --steps 2500 --lr 1e-4 --warmup 50 \
         --from "$RUNS/derain-lofo-decoy${DECOY_STAGES:-3}/checkpoints/last.pt" --clean-share 0.5 --decoy-share 0.5 \
         "${COMMON[@]}" --seed 8
     # glsgn-derain v5 (sessions 11-12): the left-out chain, then every family (refraction back in)
     # for two stages, the second with half the pairs clean (one thread each, beside another run)
     run "$RUNS/derain-mix" 2500 --task derain --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.3 --decoy-share 0.5 \
         --from "$RUNS/derain-lofo-decoy${DECOY_STAGES:-3}/checkpoints/last.pt" "${COMMON[@]}" --seed 7
     run "$RUNS/derain-mix-clean50" 2500 --task derain --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.5 \
         --decoy-share 0.5 --from "$RUNS/derain-mix/checkpoints/last.pt" "${COMMON[@]}" --seed 8
     # glsgn-derain v6 (session 14): two stages from v5's float16 export with the coarse keep term
     # (--keep-weight 3; seeds 12 and 13, one thread each, side by side), then the average of the three
     [ -f "$RUNS/derain-v5.safetensors" ] || $GLSGN models export "$RUNS/derain-mix-clean50/checkpoints/last.pt" -o "$RUNS/derain-v5.safetensors" --half
     keep=()
     for seed in 12 13; do
         run "$RUNS/derain-keep3-s$seed" 2500 --task derain --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.5 \
             --decoy-share 0.5 --keep-weight 3 --from "$RUNS/derain-v5.safetensors" "${COMMON[@]}" --seed "$seed" & keep+=($!)
     done
     wait_pids "${keep[@]}"  # by PID: a plain `wait` would hide a failed stage
     for seed in 12 13; do
         [ -f "$RUNS/derain-keep3-s$seed.safetensors" ] || $GLSGN models export "$RUNS/derain-keep3-s$seed/checkpoints/last.pt" \
             -o "$RUNS/derain-keep3-s$seed.safetensors" --half
     done
     $GLSGN models average "$RUNS/derain-v5.safetensors" "$RUNS"/derain-keep3-s1[23].safetensors -o "$RUNS/derain-v6.safetensors" \
         --half --overwrite
     # glsgn-derain v7 (session 15): one stage from v6 with the keep term at weight 10, then the average of the two
     run "$RUNS/derain-keep10-s14" 2500 --task derain --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.5 \
         --decoy-share 0.5 --keep-weight 10 --from "$RUNS/derain-v6.safetensors" "${COMMON[@]}" --seed 14
     [ -f "$RUNS/derain-keep10-s14.safetensors" ] || $GLSGN models export "$RUNS/derain-keep10-s14/checkpoints/last.pt" \
         -o "$RUNS/derain-keep10-s14.safetensors" --half
     $GLSGN models average "$RUNS/derain-v6.safetensors" "$RUNS/derain-keep10-s14.safetensors" -o "$RUNS/derain-v7.safetensors" \
         --half --overwrite
     # glsgn-derain v8 (session 16): two stages from v6 whose keep term (weight 20) counts only pairs with
     # nothing to remove (--keep-scope pairs), seeds 14 and 15, side by side; then v6, v6, the keep-10
     # stage and both averaged
     pairs=()
     for seed in 14 15; do
         run "$RUNS/derain-pairs20-s$seed" 2500 --task derain --steps 2500 --lr 1e-4 --warmup 50 --clean-share 0.5 \
             --decoy-share 0.5 --keep-weight 20 --keep-scope pairs --from "$RUNS/derain-v6.safetensors" "${COMMON[@]}" \
             --seed "$seed" & pairs+=($!)
     done
     wait_pids "${pairs[@]}"
     for seed in 14 15; do
         [ -f "$RUNS/derain-pairs20-s$seed.safetensors" ] || $GLSGN models export "$RUNS/derain-pairs20-s$seed/checkpoints/last.pt" \
             -o "$RUNS/derain-pairs20-s$seed.safetensors" --half
     done
     $GLSGN models average "$RUNS/derain-v6.safetensors" "$RUNS/derain-v6.safetensors" "$RUNS/derain-keep10-s14.safetensors" \
         "$RUNS"/derain-pairs20-s1[45].safetensors -o "$RUNS/derain-v8.safetensors" --half --overwrite) & pids+=($!)
fi
wait_all

# glsgn-dehaze v3 (session 16), alone: one stage from the committed glsgn-dehaze v2 (glsgn-lite; its own
# recipe is candidates/README.md) with the keep term, half the pairs clean (session 14's dehaze-k3c50),
# then the average of v2, v2 and that stage
V2_DEHAZE=candidates/glsgn-dehaze-lite-v3.safetensors
run "$RUNS/dehaze-keep3-s12" 1500 --task dehaze --steps 1500 --lr 1e-4 --warmup 50 --clean-share 0.5 --decoy-share 0.5 \
     --keep-weight 3 --from "$V2_DEHAZE" "${COMMON[@]}" --config glsgn-lite --seed 12
[ -f "$RUNS/dehaze-keep3-s12.safetensors" ] || $GLSGN models export "$RUNS/dehaze-keep3-s12/checkpoints/last.pt" \
     -o "$RUNS/dehaze-keep3-s12.safetensors" --half
$GLSGN models average "$V2_DEHAZE" "$V2_DEHAZE" "$RUNS/dehaze-keep3-s12.safetensors" -o "$RUNS/dehaze-v3.safetensors" \
     --half --overwrite

for run in "$RUNS"/*-all "$RUNS"/*-lofo "$RUNS"/*-lofo-2 "$RUNS"/derain*-decoy[0-9] "$RUNS"/derain-lofo-clean50 \
           "$RUNS"/derain-mix "$RUNS"/derain-mix-clean50 "$RUNS"/*-all/step2000.pt; do
    [ -e "$run" ] || continue
    case $run in
        *.pt) out=${run%/*}-step2000 ;;  # RUNS/dehaze-all/step2000.pt -> RUNS/dehaze-all-step2000
        *) out=$run ;;
    esac
    $GLSGN models export "$run" -o "$out.safetensors" --half --overwrite
done
# Both choosing sets; the held-back set (VAL_DIR-404) is scored by hand, once, for the model chosen.
for suffix in "" -303; do
    dir=$VAL$suffix name=table$suffix
    "$PYTHON" scripts/family_table.py "$dir" "$RUNS"/derain-*.safetensors --guide 0 --json "$RUNS/$name-derain.json"
    for task in dehaze dereflect; do
        "$PYTHON" scripts/family_table.py "$dir" "$RUNS/$task"-*.safetensors --guide 640 --json "$RUNS/$name-$task.json"
    done
done
