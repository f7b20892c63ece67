"""Where the time of one forward pass goes: the operators with the most self time (torch.profiler).

    .venv/bin/python benchmarks/profile_ops.py --model glsgn-full --size 1920x1080 [--channels-last] [--bf16]

The profile explains the gap between a model's time and its FLOP bound (``run.py``): convolutions
run near the machine's throughput, so the time of everything else is overhead to remove.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from glsgn_core.models import create_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="glsgn-full")
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--rows", type=int, default=15)
    a = p.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = create_model(a.model).eval().to(memory_format=fmt)
    x = torch.rand(1, 3, h, w).contiguous(memory_format=fmt)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        model(x)  # warm-up: oneDNN primitive creation
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key or "mkldnn" in e.key)
    print(events.table(sort_by="self_cpu_time_total", row_limit=a.rows))
    print(f"{a.model} {a.size}: convolution kernels {conv / total:.0%} of {total / 1e6:.2f} s self time")


if __name__ == "__main__":
    main()
