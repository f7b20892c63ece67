"""The GPU measurements of benchmarks/gpu.sh, one stage per call so that each has its own timeout.

    python benchmarks/gpu.py STAGE --json FILE [--device cuda|cpu] [--models ...] [--sizes WxH ...]

Stages (each adds its figures to FILE, rewritten after every measurement so that a stage cut short
by its timeout keeps what it measured):

- ``conv``: the yardstick of benchmarks/run.py, a 3x3 96 -> 96 convolution (``workers.conv``), best
  memory format per precision: the machine's limit for the FLOP-bound time.
- ``transfer``: a uint8 photo and its float32 image up and down the bus, pageable against the pinned
  staging buffers the Restorer uses (``glsgn_core.transfer.Staging``). CUDA only.
- ``restore``: per model and size, ``Restorer.restore`` (uint8 in, uint8 out) after a warm-up, the
  fastest of a few runs, peak CUDA memory, FLOPs (``run.executed_flops``) and actual / FLOP-bound.
  For whole-image sizes also: the network alone on an uploaded image, the host-side finish main's
  ``restore`` uses (``from_float(_run(image))``), the device-side one (``_run(image, out_dtype=)``),
  and whether the two give the same bytes.
- ``compile``: one model and size with ``Restorer(compile=True)``: the first call (compilation) and
  the steady time, against eager.
- ``report``: print the tables of FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import REFERENCE_WIDTH, executed_flops, table, write_json  # noqa: E402
from workers import PRECISION_NAMES, _build, synthetic_image  # noqa: E402
from workers import conv as conv_worker  # noqa: E402

MiB = 2**20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fastest(fn: Callable[[], Any], device: torch.device, runs: int) -> tuple[float, Any]:
    """Fastest of ``runs`` calls (the caller has warmed ``fn`` up), and the last call's result."""
    best, out = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
                            "logical_cpus": os.cpu_count(), "threads": torch.get_num_threads(), "device": str(device),
                            "load_at_start": os.getloadavg()[0]}  # fmt: skip
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_mb=round(props.total_memory / MiB))
    return info


# ---------------------------------------------------------------------------------------- stages
def stage_conv(args: argparse.Namespace, res: dict[str, Any]) -> None:
    # A dry run measures fp32 only: bf16 is emulated, and slow, on most CPUs.
    precisions = ["fp32"] + (["bf16", "fp16"] if args.device.type == "cuda" else [] if args.dry_run else ["bf16"])
    spec = {"device": str(args.device), "channels": [REFERENCE_WIDTH], "precisions": precisions,
            "side": 64 if args.dry_run else 512, "seconds": 0.1 if args.dry_run else 1.0}  # fmt: skip
    result = conv_worker(spec)
    best: dict[str, float] = {}
    for r in result["results"]:  # as run.py: the best memory format per precision
        best[r["precision"]] = max(best.get(r["precision"], 0.0), r["flops_per_s"])
    res["conv"] = {**result, "reference_width": REFERENCE_WIDTH, "throughput": best}


def stage_transfer(args: argparse.Namespace, res: dict[str, Any]) -> None:
    from glsgn_core.transfer import Staging

    if args.device.type != "cuda":
        res["transfer"] = {"skipped": "no bus on the CPU: nothing is copied or pinned there"}
        return
    w, h = args.transfer_size
    photo = synthetic_image(w, h)
    staging = Staging()
    rows: list[dict[str, Any]] = []
    on_device = {"uint8": torch.from_numpy(photo).to(args.device), "float32": torch.rand(h, w, 3, device=args.device)}
    cases = {
        ("up", "uint8", "pageable"): lambda: torch.from_numpy(photo).to(args.device),
        ("up", "uint8", "pinned staging"): lambda: staging.upload(photo, args.device),
    }
    for kind, t in on_device.items():
        cases[("down", kind, "pageable")] = lambda t=t: t.cpu().numpy()
        cases[("down", kind, "pinned staging")] = lambda t=t: staging.download(t)
    for (direction, kind, how), fn in cases.items():
        fastest(fn, args.device, 2)
        seconds, _ = fastest(fn, args.device, 10)
        nbytes = photo.nbytes * (4 if kind == "float32" else 1)
        rows.append({"direction": direction, "dtype": kind, "how": how, "seconds": seconds, "gb_per_s": nbytes / seconds / 1e9})
    res["transfer"] = {"size": f"{w}x{h}", "rows": rows}


def stage_restore(args: argparse.Namespace, res: dict[str, Any]) -> None:
    from glsgn_core.image_io import from_float
    from glsgn_core.restorer import Restorer
    from glsgn_core.runtime import autocast

    throughput = res.get("conv", {}).get("throughput", {})
    res["restore"] = []
    for name in args.models:
        restorer = Restorer(_build(name), device=str(args.device))
        precision = PRECISION_NAMES[restorer.dtype]
        restorer.restore(synthetic_image(128, 128))  # lazy initialisation stays out of the first size
        for size in args.sizes:
            w, h = size
            log(f"restore {name} {w}x{h}")
            image = synthetic_image(w, h)
            row: dict[str, Any] = {"model": name, "size": f"{w}x{h}", "precision": precision, "megapixels": w * h / 1e6}
            try:
                windows = [1]
                start = time.perf_counter()
                restorer.restore(image, on_window=lambda done, total: windows.__setitem__(0, total))
                sync(args.device)
                row.update(first_seconds=time.perf_counter() - start, windows=windows[0])
                if args.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(args.device)
                row["seconds"], out = fastest(lambda: restorer.restore(image), args.device, args.runs)
                if args.device.type == "cuda":
                    row["peak_cuda_mb"] = torch.cuda.max_memory_allocated(args.device) / MiB
                assert out.dtype == np.uint8 and out.shape == image.shape
                work = restorer._working_size(h, w)[0]
                if h <= work[0] and w <= work[1]:
                    with torch.inference_mode(), autocast(restorer.device, restorer.dtype):
                        x = restorer._to_device(image)
                        row["network_seconds"], _ = fastest(lambda: restorer._forward(x), args.device, args.runs)
                    del x
                    row["host_finish_seconds"], host = fastest(lambda: from_float(restorer._run(image), image.dtype),
                                                               args.device, args.runs)  # fmt: skip
                    row["device_finish_seconds"], dev = fastest(lambda: restorer._run(image, out_dtype=image.dtype),
                                                                args.device, args.runs)  # fmt: skip
                    row["differing_samples"] = int(np.count_nonzero(host != dev))
                    row["restore_output_matches"] = bool(np.array_equal(out, dev))
                row.update(executed_flops(name, w, h))
                if precision in throughput:
                    row["bound_seconds"] = row["flops"] / throughput[precision]
                    row["actual_over_bound"] = row["seconds"] / row["bound_seconds"]
                    if "device_finish_seconds" in row:
                        row["device_path_over_bound"] = row["device_finish_seconds"] / row["bound_seconds"]
            except torch.cuda.OutOfMemoryError as exc:  # one size too large must not lose the others
                row["error"] = str(exc).splitlines()[0]
            res["restore"].append(row)
            write_json(args.json, res)
            del image
        del restorer
        if args.device.type == "cuda":
            torch.cuda.empty_cache()


def stage_compile(args: argparse.Namespace, res: dict[str, Any]) -> None:
    from glsgn_core.restorer import Restorer

    (w, h), name = args.sizes[0], args.models[0]
    image = synthetic_image(w, h)
    row: dict[str, Any] = {"model": name, "size": f"{w}x{h}", "note": "Restorer(compile=True), torch.compile default mode"}
    res["compile"] = row
    eager = Restorer(_build(name), device=str(args.device))
    eager.restore(image)
    row["eager_seconds"], reference = fastest(lambda: eager.restore(image), args.device, args.runs)
    del eager
    compiled = Restorer(_build(name), device=str(args.device), compile=True)
    log(f"compile {name} {w}x{h}")
    start = time.perf_counter()
    compiled.restore(image)
    sync(args.device)
    row["first_call_seconds"] = time.perf_counter() - start
    write_json(args.json, res)
    row["seconds"], out = fastest(lambda: compiled.restore(image), args.device, args.runs)
    row["speedup"] = row["eager_seconds"] / row["seconds"]
    row["max_abs_diff_vs_eager"] = int(np.abs(out.astype(np.int16) - reference.astype(np.int16)).max())


# ---------------------------------------------------------------------------------------- report
def report(res: dict[str, Any]) -> str:
    m = res.get("machine", {})
    lines = [f"Machine: {m.get('gpu', 'CPU')} ({m.get('device')}), {m.get('logical_cpus')} logical CPUs, torch "
             f"{m.get('torch')} (CUDA {m.get('torch_cuda')}), python {m.get('python')}"]  # fmt: skip
    if res.get("conv"):
        best = ", ".join(f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in res["conv"]["throughput"].items())
        lines += ["", f"Yardstick (3x3 conv, C={res['conv']['reference_width']}, best format): {best}"]
    tr = res.get("transfer")
    if tr and tr.get("rows"):
        rows = [[r["direction"], r["dtype"], r["how"], r["seconds"] * 1e3, r["gb_per_s"]] for r in tr["rows"]]
        lines += ["", f"Transfers of a {tr['size']} image:", "", table(["direction", "dtype", "how", "ms", "GB/s"], rows)]
    elif tr:
        lines += ["", f"Transfers: skipped ({tr['skipped']})"]
    if res.get("restore"):
        headers = ["model", "size", "windows", "precision", "restore s", "network s", "host finish s", "device finish s",
                   "peak CUDA MB", "TFLOPs", "FLOP-bound s", "restore/bound", "device path/bound", "same bytes"]  # fmt: skip
        rows = []
        for r in res["restore"]:
            if "error" in r:
                rows.append([r["model"], r["size"], r["error"]] + [None] * (len(headers) - 3))
                continue
            same = None if "differing_samples" not in r else r["differing_samples"] == 0 and r["restore_output_matches"]
            rows.append([r["model"], r["size"], r["windows"], r["precision"], r["seconds"], r.get("network_seconds"),
                         r.get("host_finish_seconds"), r.get("device_finish_seconds"), r.get("peak_cuda_mb"),
                         r["flops"] / 1e12, r.get("bound_seconds"), r.get("actual_over_bound"),
                         r.get("device_path_over_bound"), same])  # fmt: skip
        lines += ["", "uint8 in, uint8 out, random weights (host finish: from_float(_run(image)), the path of main's "
                  "restore; device finish: _run(image, out_dtype=uint8)):", "", table(headers, rows)]  # fmt: skip
    c = res.get("compile")
    if c:
        if "seconds" in c:
            text = (f"{c['model']} {c['size']}: eager {c['eager_seconds']:.3g} s, compiled {c['seconds']:.3g} s "
                    f"(x{c['speedup']:.2f}), first call {c['first_call_seconds']:.3g} s, max |diff| {c['max_abs_diff_vs_eager']}")  # fmt: skip
        else:
            text = f"{c['model']} {c['size']}: not finished (timed out or failed during compilation)"
        lines += ["", f"torch.compile: {text}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main
def size_arg(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    return w, h


STAGES = {"conv": stage_conv, "transfer": stage_transfer, "restore": stage_restore, "compile": stage_compile}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=[*STAGES, "report"])
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--device", default="cuda", type=torch.device)
    p.add_argument("--models", nargs="+", default=["glsgn-lite", "glsgn-full"])
    p.add_argument("--sizes", nargs="+", type=size_arg, default=[(1920, 1080), (3840, 2160), (7680, 4320)])
    p.add_argument("--transfer-size", type=size_arg, default=(3840, 2160))
    p.add_argument("--runs", type=int, default=3, help="timed runs after the warm-up; the fastest counts")
    p.add_argument("--dry-run", action="store_true", help="a short yardstick (CPU checks of the machinery)")
    args = p.parse_args(argv)
    res = load(args.json)
    if args.stage == "report":
        print(report(res))
        return
    if args.device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"torch {torch.__version__} sees no CUDA device; run with --device cpu (a dry run)")
    from glsgn_core.runtime import keep_freed_memory

    keep_freed_memory()  # as the command line does
    res.setdefault("machine", machine(args.device))
    res.setdefault("started", time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    started = time.time()
    STAGES[args.stage](args, res)
    res.setdefault("stage_seconds", {})[args.stage] = round(time.time() - started, 1)
    write_json(args.json, res)


if __name__ == "__main__":
    main()
