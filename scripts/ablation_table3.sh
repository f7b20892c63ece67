#!/usr/bin/env bash
# The paper's Table III ablation at a small equal budget (docs/MODELS.md, "Ablation"):
#
#   scripts/ablation_table3.sh [DATA_DIR] [RUNS_DIR]
#
# Five `glsgn train` runs on deraining, one per registered variant, each at glsgn-lite's widths and
# depths, 300 steps, the same seed and data; prints each arm's validation PSNR/SSIM at the end.
# DATA_DIR is what scripts/train_defaults.sh builds (train/ and val-derain/).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
RUNS=${2:-runs/ablation}
STEPS=${STEPS:-300}
GLSGN=${GLSGN:-glsgn}
export OMP_NUM_THREADS=${THREADS:-1}
LITE='{"widths": [8, 16, 32, 64, 128], "enc_blocks": [0, 0, 0, 0], "dec_blocks": [1, 0, 0, 0], "mid_blocks": 1}'
VARIANTS=(glsgn-global-only glsgn-global-local glsgn-pn glsgn-pac glsgn-full)
mkdir -p "$RUNS"
for cfg in "${VARIANTS[@]}"; do
    $GLSGN train --out "$RUNS/$cfg" --task derain --data "$DATA/train" --val "$DATA/val-derain" \
        --config "$cfg" --model-config "$LITE" --steps "$STEPS" --batch 4 --crop 256x256 --lr 4e-4 \
        --warmup $((STEPS / 10)) --perceptual-weight 0 --adversarial-weight 0 --precision auto \
        --val-every "$STEPS" --save-every "$STEPS" --log-every 50 --workers 1 --seed 0 > "$RUNS/$cfg.log" 2>&1
done
for cfg in "${VARIANTS[@]}"; do
    echo "$cfg: $(grep 'val PSNR' "$RUNS/$cfg.log" | tail -1 | sed 's/.*val //')"
done
