"""Run by the concurrency test as a separate process: download one URL, print timings and the path."""

import signal
import sys
import time

from glsgn_core.weights import download

# Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started, and a
# shell without job control starts background commands with SIGINT ignored (a CI run under nohup or
# `&`): install Python's Ctrl-C handler here so the Ctrl-C test means the same everywhere.
signal.signal(signal.SIGINT, signal.default_int_handler)

url, dest, sha256, size = sys.argv[1:5]
started = time.time()
path = download(url, dest, sha256=sha256, size=int(size), timeout=(5, 5), retries=1, backoff=0.01, progress=False)
print(f"{started} {time.time()} {path}")
