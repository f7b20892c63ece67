"""Run by the concurrency test as a separate process: download one URL, print timings and the path."""

import sys
import time

from glsgn_core.weights import download

url, dest, sha256, size = sys.argv[1:5]
started = time.time()
path = download(url, dest, sha256=sha256, size=int(size), timeout=(5, 5), retries=1, backoff=0.01, progress=False)
print(f"{started} {time.time()} {path}")
