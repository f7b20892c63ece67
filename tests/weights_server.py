"""A real HTTP file server on 127.0.0.1 with fault injection, for the download tests.

Each served file can be cut mid-transfer, corrupted, delayed, throttled, answered with an error
status, or served without Range support; every request is logged (path, Range header, status).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    data: bytes
    ranges: bool = True  # honour "Range: bytes=N-" with a 206
    cut_at: int | None = None  # drop the connection once this absolute offset has been sent ...
    cuts: int = 1  # ... on this many requests
    corrupt: bool = False  # flip one byte in the middle
    delay: float = 0.0  # seconds before answering
    throttle: float = 0.0  # seconds between 4 KiB chunks
    status: int | None = None  # answer with this status instead ...
    status_times: int | None = None  # ... on this many requests (None: always)


@dataclass
class Request:
    path: str
    range: str | None
    status: int
    when: float = field(default_factory=time.monotonic)


class WeightsServer:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, data: bytes, **faults) -> str:
        """Serve ``data`` at ``/path``; returns its URL."""
        self.files["/" + path.lstrip("/")] = Served(data, **faults)
        return f"{self.base}/{path.lstrip('/')}"

    def gets(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == "/" + path.lstrip("/")]

    def __enter__(self) -> "WeightsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _reply_plan(self, path: str, range_header: str | None) -> tuple[int, Served | None, int]:
        """Under the lock: the status to send, the file, the start offset; counts faults used."""
        with self._lock:
            served = self.files.get(path)
            if served is None:
                status, start = 404, 0
            elif served.status is not None and (served.status_times is None or served.status_times > 0):
                status, start = served.status, 0
                if served.status_times is not None:
                    served.status_times -= 1
            elif served.ranges and range_header and range_header.startswith("bytes="):
                start = int(range_header[6:].split("-")[0])
                status = 206 if start < len(served.data) else 416
            else:
                status, start = 200, 0
            self.log.append(Request(path, range_header, status))
            return status, served, start


def _handler(server: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, served, start = server._reply_plan(self.path, self.headers.get("Range"))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if served is not None and served.delay:
                    time.sleep(served.delay)
                if status not in (200, 206):
                    self.send_error(status)
                    return
                self._send(served, status, start)

        def _send(self, served: Served, status: int, start: int) -> None:
            data = bytearray(served.data)
            if served.corrupt:
                data[len(data) // 2] ^= 0xFF
            body = bytes(data[start:])
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            with server._lock:
                cut = served.cut_at is not None and served.cuts > 0 and served.cut_at > start
                if cut:
                    served.cuts -= 1
            end = served.cut_at - start if cut else len(body)
            for i in range(0, end, 4096):
                self.wfile.write(body[i : min(i + 4096, end)])
                self.wfile.flush()
                if served.throttle:
                    time.sleep(served.throttle)
            self.close_connection = True

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    return Handler
