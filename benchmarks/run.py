"""Speed, memory and FLOPs of GLSGN by image size, against this machine's limit and against peers.

    .venv/bin/python benchmarks/run.py                       # the CPU run of docs/BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick               # a smoke run at tiny sizes (~1-2 min)
    .venv/bin/python benchmarks/run.py --device cuda --json gpu.json

Sections, each measurement in a fresh process (so peak memory is its own):

1. conv: the machine's convolution throughput, a 3x3 CxC convolution timed in both memory formats;
   the best fp32 figure at the reference width is the yardstick ("the machine's limit").
2. restore: ``Restorer.restore`` per model and size: seconds, peak RSS (peak CUDA memory on a GPU),
   MP/s, the FLOPs actually executed (windows above 4K and the shared global pass included), the
   FLOP-bound time = FLOPs / throughput and actual / bound; then the 8K/4K, 16K/8K ratios.
3. precision: fp32 vs bf16 autocast vs channels_last on a real held-out photo: seconds and PSNR
   against fp32 (same random weights).
4. peers: Restormer, MPRNet, NAFNet-w32, SCUNet through spandrel in ``.venv-bench`` (torchvision is
   never a glsgn dependency), at a small size because a whole 4K image takes them tens of minutes
   on two cores; glsgn runs at the same size in the same environment for a like-for-like row.

Prints markdown tables and writes every figure to ``--json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
REFERENCE_WIDTH = 96  # the FLOP-weighted median conv input width of glsgn-full at 4K
CONV_WIDTHS = [8, 12, 48, 96, 128, 288]  # the widths of glsgn-lite and glsgn-full
PEERS = ["restormer", "mprnet", "nafnet-w32", "scunet"]
MiB = 2**20


# --------------------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child(python: Path | str, script: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh process; its last stdout line is the JSON result."""
    from glsgn_core.runtime import huge_pages_env

    load = os.getloadavg()[0]
    env = huge_pages_env(os.environ) or dict(os.environ)  # as the glsgn command runs (glsgn_cli/entry.py)
    try:
        proc = subprocess.run([str(python), str(HERE / script), json.dumps(spec)], capture_output=True, text=True,
                              timeout=timeout, cwd=HERE, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s", "load_before": load}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**spec, "error": f"exit {proc.returncode}: {tail}", "load_before": load}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load_before": load}


def machine(threads: int) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "threads": threads,
                            "logical_cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0]}  # fmt: skip
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", "?").strip()
        flags = fields.get("Flags", "").split()
        info["cpu_flags"] = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    except OSError:
        info["cpu"] = platform.processor()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if BENCH_PYTHON.exists():
        out = subprocess.run([str(BENCH_PYTHON), "-c", "import torch, spandrel; print(torch.__version__, spandrel.__version__)"],
                             capture_output=True, text=True).stdout.split()  # fmt: skip
        if len(out) == 2:
            info["bench_env"] = {"torch": out[0], "spandrel": out[1]}
    return info


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: a temporary file beside ``path``, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a results file is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return "-" if v is None else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- FLOPs
@functools.lru_cache(maxsize=None)
def _measure(name: str, w: int, h: int) -> dict[str, Any]:
    from glsgn_core.complexity import measure

    return measure(name, (w, h))


@functools.lru_cache(maxsize=None)
def _global_pass_flops(name: str, w: int, h: int) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from glsgn_core.models import create_model

    model = create_model(name).to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.global_pass(torch.empty(1, 3, h, w, device="meta"))
    return counter.get_total_flops()


def executed_flops(name: str, w: int, h: int) -> dict[str, Any]:
    """FLOPs ``Restorer.restore`` executes on a (w, h) image: the whole image up to the working size;
    above it every window in full (its own global pathway gives the pyramid's band at its scale), plus
    one global pass on the downscaled whole image (the cues every window shares).
    The window plan is the Restorer's own (``_working_size``, ``spans``), so the count follows it."""
    from glsgn_core.models import create_model
    from glsgn_core.restorer import Restorer
    from glsgn_core.windows import spans

    restorer = Restorer(create_model(name), device="cpu", precision="fp32")
    work, win = restorer._working_size(h, w)
    whole = _measure(name, w, h)["flops"]
    if h <= work[0] and w <= work[1]:
        return {"flops": whole, "whole_image_flops": whole, "windows": 1}
    m = restorer.model.pad_multiple
    rows, cols = spans(h, win[0], restorer.overlap, m), spans(w, win[1], restorer.overlap, m)
    total = 0
    for top, bottom in rows:
        for left, right in cols:
            counted = _measure(name, right - left, bottom - top)
            total += counted["flops"]
    factor = max(-(-h * 4 // win[0]), -(-w * 4 // win[1]), 1)  # as GLSGN.window_context
    gm = restorer.model.config.stem * 2 ** (len(restorer.model.config.widths) - 1)
    gh, gw = -(-h // factor), -(-w // factor)
    total += _global_pass_flops(name, -(-gw // gm) * gm, -(-gh // gm) * gm)
    return {"flops": total, "whole_image_flops": whole, "windows": len(rows) * len(cols)}


# -------------------------------------------------------------------------------------- sections
def quick_runs(args: argparse.Namespace) -> dict[str, Any]:
    """--quick: two runs (warm-up + one timed) however short; otherwise the workers' own rule."""
    return {"min_runs": 2, "min_seconds": 0.0} if args.quick else {}


def run_conv(args: argparse.Namespace) -> dict[str, Any]:
    from glsgn_core.runtime import native_bf16

    # A CPU without native bf16 emulates it at a fraction of fp32's speed; the Restorer never picks it there.
    # (kept when the precision section or --precision bf16 will look its throughput up)
    bf16 = args.device == "cuda" or native_bf16() or "precision" not in args.skip or args.precision == "bf16"
    precisions = ["fp32"] + (["bf16"] if bf16 else []) + (["fp16"] if args.device == "cuda" else [])
    spec = {"kind": "conv", "device": args.device, "threads": args.threads, "precisions": precisions,
            "channels": [REFERENCE_WIDTH] if args.quick else CONV_WIDTHS, "side": 128 if args.quick else 512,
            "seconds": 0.2 if args.quick else 1.0}  # fmt: skip
    log("conv throughput")
    result = child(sys.executable, "workers.py", spec, args.timeout)
    if "error" in result:
        raise SystemExit(f"conv throughput failed: {result['error']}")
    best: dict[str, float] = {}
    for r in result["results"]:
        if r["channels"] == REFERENCE_WIDTH:
            best[r["precision"]] = max(best.get(r["precision"], 0.0), r["flops_per_s"])
    result["reference_width"] = REFERENCE_WIDTH
    result["throughput"] = best  # FLOPs/s per precision, the best memory format
    return result


def run_restore(args: argparse.Namespace, conv: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in args.models:
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            log(f"restore {name} {size}")
            r = child(sys.executable, "workers.py", {"kind": "restore", "model": name, "size": size, "device": args.device,
                      "threads": args.threads, "precision": args.precision, **quick_runs(args)}, args.timeout)  # fmt: skip
            if "error" not in r:
                r.update(executed_flops(name, w, h))
                r["mp_per_s"] = r["megapixels"] / r["seconds"]
                r["bound_seconds"] = r["flops"] / conv["throughput"][r["precision"]]  # the yardstick at its precision
                r["actual_over_bound"] = r["seconds"] / r["bound_seconds"]
                r["achieved_fraction"] = 1 / r["actual_over_bound"]
            rows.append(r)
            if "error" in r:
                log(f"  {r['error']}")
    return rows


def scaling_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each size against the one with half its width and height (8K/4K, 16K/8K, ...)."""
    ok = {(r["model"], r["size"]): r for r in rows if "error" not in r}
    out = []
    for (name, size), big in ok.items():
        w, h = (int(v) for v in size.split("x"))
        small = ok.get((name, f"{w // 2}x{h // 2}"))
        if small is None or w % 2 or h % 2:
            continue
        key = "peak_cuda_mb" if "peak_cuda_mb" in big else "peak_rss_mb"
        out.append({"model": name, "pair": f"{size} / {small['size']}", "time_ratio": big["seconds"] / small["seconds"],
                    "peak_memory_ratio": big[key] / small[key], "memory": key,
                    "working_memory_ratio": (big["peak_rss_mb"] - big["rss_before_mb"])
                    / max(small["peak_rss_mb"] - small["rss_before_mb"], 1e-9)})  # fmt: skip
    return out


def run_precision(args: argparse.Namespace, conv: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in args.models:
        for size in args.precision_sizes:
            log(f"precision {name} {size}")
            r = child(sys.executable, "workers.py", {"kind": "precision", "model": name, "size": size,
                      "device": args.device, "threads": args.threads, **quick_runs(args)}, args.timeout)  # fmt: skip
            if "error" not in r:
                w, h = (int(v) for v in size.split("x"))
                r["flops"] = executed_flops(name, w, h)["flops"]
                for v in r["variants"]:
                    v["actual_over_bound"] = v["seconds"] * conv["throughput"][v["variant"].split("+")[0]] / r["flops"]
            rows.append(r)
    return rows


def run_peers(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not BENCH_PYTHON.exists():
        log(f"peers skipped: {BENCH_PYTHON} not found (see docs/BENCHMARKS.md to create .venv-bench)")
        return []
    rows = []
    for size in args.peer_sizes:
        for name in args.models:  # glsgn in the same environment and torch as the peers
            log(f"peer-size glsgn {name} {size}")
            r = child(BENCH_PYTHON, "workers.py", {"kind": "restore", "model": name, "size": size, "threads": args.threads,
                      **quick_runs(args)}, args.timeout)  # fmt: skip
            if "error" not in r:
                w, h = (int(v) for v in size.split("x"))
                r["flops"] = executed_flops(name, w, h)["flops"]
            rows.append(r)
        for name in args.peers:
            log(f"peer {name} {size}")
            rows.append(child(BENCH_PYTHON, "peers.py", {"peer": name, "size": size, "threads": args.threads,
                              **quick_runs(args)}, args.timeout))  # fmt: skip
    for r in rows:
        if "error" not in r:
            r["seconds_per_mp"] = r["seconds"] / r["megapixels"]
            r["tflops_per_mp"] = r["flops"] / r["megapixels"] / 1e12 if r.get("flops") else None
            r["working_mb"] = r["peak_rss_mb"] - r["rss_before_mb"]
        else:
            log(f"  {r.get('peer', r.get('model'))}: {r['error']}")
    return rows


# ---------------------------------------------------------------------------------------- report
def machine_lines(res: dict[str, Any]) -> list[str]:
    m, conv = res["machine"], res["conv"]
    gpu = f", GPU {m['gpu']}" if "gpu" in m else ""
    head = f"Machine: {m.get('cpu')} ({m['logical_cpus']} logical CPUs, {m['threads']} threads), torch {m['torch']}{gpu}"
    load = f"load average {m['load_at_start']:.2f} at start, {m.get('load_at_end', float('nan')):.2f} at end"
    rows = [[r["channels"], r["format"], r["precision"], r["flops_per_s"] / 1e9] for r in conv["results"]]
    best = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in conv["throughput"].items())
    side = conv["results"][0]["side"]
    return [f"{head}; {load}", "", f"Convolution throughput (3x3, C to C, input 1 x C x {side} x {side}):", "",
            table(["C", "format", "precision", "GFLOP/s"], rows), "",
            f"Yardstick, C={conv['reference_width']} in its best format: {best}"]  # fmt: skip


def restore_lines(res: dict[str, Any]) -> list[str]:
    headers = ["model", "size", "windows", "seconds", "MP/s", "peak RSS MB", "TFLOPs", "FLOP-bound s", "actual/bound",
               "fraction of limit", "load"]  # fmt: skip
    gpu = any("peak_cuda_mb" in r for r in res["restore"])
    if gpu:
        headers.insert(6, "peak CUDA MB")
    rows = []
    for r in res["restore"]:
        if "error" in r:
            rows.append([r["model"], r["size"], r["error"]] + [None] * (len(headers) - 3))
            continue
        row = [r["model"], r["size"], r["windows"], r["seconds"], r["mp_per_s"], r["peak_rss_mb"], r["flops"] / 1e12,
               r["bound_seconds"], r["actual_over_bound"], r["achieved_fraction"], f"{r['load_before']:.1f}"]  # fmt: skip
        if gpu:
            row.insert(6, r.get("peak_cuda_mb"))
        rows.append(row)
    kinds = sorted({f"{r['precision']}{' + channels_last' if r.get('channels_last') else ''}" for r in res["restore"] if "error" not in r})
    lines = [f"Restorer.restore, {', '.join(kinds) or '-'} (bound from the same precision's yardstick), random weights:", "",
             table(headers, rows)]  # fmt: skip
    if res.get("scaling"):
        rows = [[s["model"], s["pair"], s["time_ratio"], s["peak_memory_ratio"], s["working_memory_ratio"]]
                for s in res["scaling"]]  # fmt: skip
        lines += ["", "Scaling, each size against half its width and height (working = peak minus RSS before the run):",
                  "", table(["model", "sizes", "time ratio", "peak memory ratio", "working memory ratio"], rows)]  # fmt: skip
    return lines


def precision_lines(res: dict[str, Any]) -> list[str]:
    rows = []
    for p in res["precision"]:
        if "error" in p:
            rows.append([p["model"], p["size"], p["error"], None, None, None, None])
            continue
        base = p["variants"][0]["seconds"]
        for v in p["variants"]:
            rows.append([p["model"], p["size"], v["variant"], v["seconds"], base / v["seconds"], v.get("actual_over_bound"),
                         v["psnr_vs_fp32_db"]])  # fmt: skip
    photo = next((p["photo"] for p in res["precision"] if "photo" in p), "?")
    return [f"Precision and memory format (Restorer on {photo}, random weights; bound from the same precision's "
            "yardstick):", "", table(["model", "size", "variant", "seconds", "speed-up", "actual/bound",
                                      "PSNR vs fp32 dB"], rows)]  # fmt: skip


def peer_lines(res: dict[str, Any]) -> list[str]:
    ok = [r for r in res["peers"] if "error" not in r]
    at_4k = [r for r in res.get("restore", []) if r.get("model") == "glsgn-full" and r.get("size") == "3840x2160"]
    ref_4k = mem_4k = None
    if at_4k and "error" not in at_4k[0]:
        ref_4k = at_4k[0]["seconds"] / at_4k[0]["megapixels"]
        mem_4k = (at_4k[0]["peak_rss_mb"] - at_4k[0]["rss_before_mb"]) / at_4k[0]["megapixels"]
    rows = []
    for r in res["peers"]:
        name = r.get("peer", r.get("model"))
        if "error" in r:
            rows.append([name, r["size"], r["error"]] + [None] * 8)
            continue
        same = [g for g in ok if g["model"] == "glsgn-full" and g["size"] == r["size"]]
        mb_per_mp = r["working_mb"] / r["megapixels"]
        rows.append([name, r["size"], r["seconds"], r["seconds_per_mp"], r["tflops_per_mp"], r["peak_rss_mb"], mb_per_mp,
                     r["seconds_per_mp"] / same[0]["seconds_per_mp"] if same else None,
                     r["seconds_per_mp"] / ref_4k if ref_4k else None, mb_per_mp / mem_4k if mem_4k else None])  # fmt: skip
    env = res["machine"].get("bench_env", {})
    headers = ["model", "size", "seconds", "s/MP", "TFLOPs/MP", "peak RSS MB", "working MB/MP", "s/MP vs full, same size",
               "s/MP vs full at 4K", "MB/MP vs full at 4K"]  # fmt: skip
    return [f"Peers, random weights, whole image (in .venv-bench: torch {env.get('torch')}, spandrel "
            f"{env.get('spandrel')}):", "", table(headers, rows)]  # fmt: skip


def report(res: dict[str, Any]) -> str:
    lines = machine_lines(res)
    for key, section in (("restore", restore_lines), ("precision", precision_lines), ("peers", peer_lines)):
        if res.get(key):
            lines += ["", *section(res)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main
def size_arg(text: str) -> str:
    """Validate 'WxH' for argparse and return it normalised."""
    from glsgn_core.complexity import parse_size

    try:
        w, h = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return f"{w}x{h}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and peers at 128x128: checks the machinery")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--models", nargs="+", default=["glsgn-lite", "glsgn-full"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="of the restore section; auto: the Restorer's default on this machine (peers and their glsgn rows: fp32)")
    p.add_argument("--sizes", nargs="+", type=size_arg, help="WxH ..., default 1920x1080 3840x2160 7680x4320 15360x8640")
    p.add_argument("--precision-sizes", nargs="*", type=size_arg, help="default 1920x1080 3840x2160")
    p.add_argument("--peers", nargs="*", default=PEERS, choices=PEERS, help="default: all four")
    p.add_argument("--peer-sizes", nargs="+", type=size_arg, help="default 512x512")
    p.add_argument("--skip", nargs="+", default=[], choices=["restore", "precision", "peers"], help="sections to leave out")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--report", type=Path, help="print the tables of an earlier --json file; measure nothing")
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = ["256x144", "512x288"] if args.quick else ["1920x1080", "3840x2160", "7680x4320", "15360x8640"]
    if args.precision_sizes is None:
        args.precision_sizes = ["256x144"] if args.quick else ["1920x1080", "3840x2160"]
    if args.peer_sizes is None:
        args.peer_sizes = ["128x128"] if args.quick else ["512x512"]
    if args.device == "cuda":
        args.peers = []  # the benchmark environment holds a CPU-bound comparison; peers on GPU are not measured here
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    started = time.time()
    res: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(args.threads)}  # fmt: skip
    sections = {
        "conv": lambda: run_conv(args),
        "restore": lambda: run_restore(args, res["conv"]),
        "scaling": lambda: scaling_ratios(res["restore"]),
        "precision": lambda: run_precision(args, res["conv"]),
        "peers": lambda: run_peers(args),
    }
    for key, run_section in sections.items():
        skipped = key in args.skip or (key == "scaling" and "restore" in args.skip)
        res[key] = [] if skipped else run_section()
        if args.json:  # after every section, so an interrupted run keeps what it measured
            write_json(args.json, res)
    res["machine"]["load_at_end"] = os.getloadavg()[0]
    res["wall_seconds"] = time.time() - started
    print(report(res))
    if args.json:
        write_json(args.json, res)
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
