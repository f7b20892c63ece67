#!/usr/bin/env bash
# The paper's Table III and Table V ablations at a small equal budget, several seeds (docs/MODELS.md, "Ablation"):
#
#   scripts/ablation_table3.sh PHOTOS_DIR VAL_DIR [RUNS_DIR]
#
# One `glsgn train` run per registered variant and seed, each at glsgn-cpu's widths and depths
# (the variant's own switch on top), the same steps, data and schedule; JOBS runs side by side,
# one thread each. Prints each arm's final validation PSNR/SSIM (VAL_DIR: a paired folder of whole
# photos, e.g. /work/val/derain-streaks), then the mean and spread over seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOS=${1:?photos folder}
VAL=${2:?paired validation folder}
RUNS=${3:-runs/ablation}
STEPS=${STEPS:-250}
SEEDS=${SEEDS:-"0 1 2"}
JOBS=${JOBS:-2}
TASK=${TASK:-derain}
GLSGN=${GLSGN:-glsgn}
VARIANTS=${VARIANTS:-"glsgn-global-only glsgn-global-local glsgn-pn glsgn-pac glsgn-full glsgn-lp-nomask glsgn-ssim glsgn-h0 glsgn-h0h1"}
BASE='{"widths": [24, 48, 96, 192], "stem": 2, "enc_blocks": [0, 0, 0], "dec_blocks": [1, 0, 0], "mid_blocks": 1}'
export OMP_NUM_THREADS=1 PHOTOS VAL RUNS STEPS TASK GLSGN BASE
mkdir -p "$RUNS"
arm() {  # arm CONFIG SEED
    local out="$RUNS/$1-s$2"
    [ -f "$out.done" ] && return 0
    $GLSGN train --out "$out" --task "$TASK" --data "$PHOTOS" --val "$VAL" --config "$1" --model-config "$BASE" \
        --steps "$STEPS" --batch 4 --crop 256x256 --lr 4e-4 --warmup $((STEPS / 10)) --perceptual-weight 0 \
        --adversarial-weight 0 --precision fp32 --val-every "$STEPS" --save-every "$STEPS" --log-every 50 \
        --workers 1 --seed "$2" > "$out.log" 2>&1 && touch "$out.done"
}
export -f arm
for seed in $SEEDS; do for cfg in $VARIANTS; do echo "$cfg $seed"; done; done | xargs -P "$JOBS" -L 1 bash -c 'arm $0 $1'
python3 - "$RUNS" $VARIANTS <<'PY'
import re, statistics, sys
from pathlib import Path
runs, variants = Path(sys.argv[1]), sys.argv[2:]
print("| variant | PSNR per seed | mean | spread (max - min) | SSIM mean |")
print("|---|---|---|---|---|")
for v in variants:
    psnr, ssim = [], []
    for log in sorted(runs.glob(f"{v}-s*.log")):
        found = re.findall(r"val PSNR ([\d.]+) dB.*?SSIM ([\d.]+)", log.read_text())
        if found:
            psnr.append(float(found[-1][0])); ssim.append(float(found[-1][1]))
    if psnr:
        print(f"| {v} | {' / '.join(f'{p:.2f}' for p in psnr)} | {statistics.mean(psnr):.2f} | {max(psnr) - min(psnr):.2f} | {statistics.mean(ssim):.3f} |")
PY
