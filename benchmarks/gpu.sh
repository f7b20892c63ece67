#!/usr/bin/env bash
# The GPU check of a lent machine in one call of at most 8 minutes: the CUDA tests, then the
# Restorer's speed, memory and FLOP-bound ratio at 1080p, 4K and 8K (benchmarks/gpu.py), JSON under
# benchmarks/results/ and a table on stdout. Every stage has its own timeout; a stage that fails or
# runs out of time is reported and the next one runs.
#
#   bash benchmarks/gpu.sh                 # on the lent GPU machine, from anywhere
#   bash benchmarks/gpu.sh --dry-run       # the same stages on the CPU at tiny sizes (< ~1 min)
#   PYTHON=/path/to/python bash benchmarks/gpu.sh
#
# Environment: PYTHON (default python3; it must have torch, a CUDA build for the real run),
# GLSGN_GPU_DRY_RUN=1 (as --dry-run), GLSGN_GPU_JSON (where to write; default
# benchmarks/results/gpu-DATE.json, a dry run: $TMPDIR/glsgn-gpu-dry-run.json), OUT (a folder:
# the JSON and the log are copied there too). Nothing is downloaded: the lent machine has no network.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
PY="${PYTHON:-python3}"
DRY="${GLSGN_GPU_DRY_RUN:-0}"
[[ "${1:-}" == "--dry-run" ]] && DRY=1
BUDGET=440 # seconds for the stages; the report (<= 30 s) and the copy follow: under 8 minutes in all
FAILED=()

if [[ "$DRY" == 1 ]]; then
    JSON="${GLSGN_GPU_JSON:-${TMPDIR:-/tmp}/glsgn-gpu-dry-run.json}"
    BENCH=(--device cpu --models glsgn-lite glsgn-full --sizes 256x256 512x384 --transfer-size 512x384 --runs 2 --dry-run)
    COMPILE=() # compiling glsgn-lite takes 97 s on the 2-core CPU: the dry run leaves it out
    TESTS=(tests/test_transfer.py -k cpu)
else
    JSON="${GLSGN_GPU_JSON:-benchmarks/results/gpu-$(date +%Y-%m-%d).json}"
    BENCH=(--device cuda --models glsgn-lite glsgn-full --sizes 1920x1080 3840x2160 7680x4320 --runs 3)
    COMPILE=(--device cuda --models glsgn-full --sizes 3840x2160 --runs 3)
    TESTS=(tests -k cuda)
fi
LOG=/dev/null # until the checks below pass: a run that cannot measure leaves no files

say() { echo "[gpu.sh $(date +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$LOG" >&2; }

# stage NAME SECONDS COMMAND...: run with a timeout, never past the budget; log and report its end.
stage() {
    local name="$1" limit="$2" left rc
    shift 2
    left=$((BUDGET - SECONDS - 10))
    ((limit > left)) && limit=$left
    if ((limit < 5)); then
        say "$name: skipped, the 8-minute budget is spent"
        FAILED+=("$name (no time left)")
        return
    fi
    say "$name: start (timeout ${limit}s)"
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) say "$name: done" ;;
        124 | 137) say "$name: TIMED OUT after ${limit}s"; FAILED+=("$name (timed out)") ;;
        *) say "$name: FAILED (exit $rc)"; FAILED+=("$name (exit $rc)") ;;
    esac
}

# ---------------------------------------------------------------------------------------- setup
if ! PY="$(command -v "$PY")"; then
    say "no python at '${PYTHON:-python3}'; set PYTHON"
    exit 2
fi
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" # absolute: stages run from other folders too
if ! info="$(timeout 60 "$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>&1)"; then
    say "$PY cannot import torch: ${info##*$'\n'}; set PYTHON to a python with torch (nothing can be installed here: no network)"
    exit 2
fi
read -r TORCH_VERSION TORCH_CUDA CUDA_OK <<<"$info"
if [[ "$CUDA_OK" != True && "$DRY" != 1 ]]; then
    say "torch.cuda is UNAVAILABLE to $PY (torch $TORCH_VERSION, CUDA build: $TORCH_CUDA): no GPU measurement is possible with this python. Set PYTHON to one with a CUDA build of torch, or run --dry-run."
    exit 3
fi
LOG="${JSON%.json}.log"
mkdir -p "$(dirname "$JSON")"
rm -f "$JSON" # a second run on the same day replaces the first
: >"$LOG"
say "python $("$PY" -c 'import sys; print(sys.version.split()[0])') at $PY, torch $TORCH_VERSION, built for CUDA $TORCH_CUDA, torch.cuda.is_available() = $CUDA_OK"
if ! (cd / && "$PY" -c 'import glsgn_core' 2>/dev/null); then
    say "glsgn is not installed for $PY: pip install --no-deps -e . (offline)"
    if ! timeout 90 "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >>"$LOG" 2>&1; then
        say "pip install failed (see $LOG); using PYTHONPATH=$ROOT instead"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
missing="$("$PY" -c '
import importlib.util as u
print(" ".join(m for m in ("numpy", "PIL", "safetensors", "pytest", "hypothesis", "skimage") if u.find_spec(m) is None))')"
[[ -n "$missing" ]] && say "missing python modules: $missing (the tests that import them will fail; the benchmark needs numpy and pillow)"

# --------------------------------------------------------------------------------------- stages
stage "tests (pytest ${TESTS[*]})" 120 "$PY" -m pytest -q -p no:cacheprovider --continue-on-collection-errors "${TESTS[@]}"
stage "yardstick convolution" 40 "$PY" benchmarks/gpu.py conv --json "$JSON" "${BENCH[@]}"
stage "transfers" 30 "$PY" benchmarks/gpu.py transfer --json "$JSON" "${BENCH[@]}"
stage "restore" 180 "$PY" benchmarks/gpu.py restore --json "$JSON" "${BENCH[@]}"
if ((${#COMPILE[@]})); then
    stage "torch.compile" 120 "$PY" benchmarks/gpu.py compile --json "$JSON" "${COMPILE[@]}"
else
    say "torch.compile: left out of the dry run (compiling takes minutes on a CPU)"
fi

echo
timeout 30 "$PY" benchmarks/gpu.py report --json "$JSON" | tee -a "$LOG"
echo
if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then
    cp "$JSON" "$LOG" "$OUT"/ 2>/dev/null && say "copied $(basename "$JSON") and $(basename "$LOG") to $OUT"
fi
if ((${#FAILED[@]})); then
    say "finished in ${SECONDS}s; wrote $JSON; stages not completed: ${FAILED[*]}"
    exit 1
fi
say "finished in ${SECONDS}s; wrote $JSON"
