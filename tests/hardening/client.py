"""HTTP helpers for the hardening tests: httpx for ordinary requests, a raw socket for huge bodies.

A 100 MB body is sent over a plain socket so that the server's early answer (413 from
Content-Length, or while a chunked body streams in) is read as soon as it comes, while a
second thread keeps sending; httpx would insist on finishing the upload first.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .hostile_cases import Hostile
from .server import API_KEY, HOST, Server

REQUEST_TIMEOUT_S = 90.0
CHUNK = 1024 * 1024


@dataclass
class Answer:
    """What came back: status, headers (lowercase names), body, and how long it took."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float
    sent_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.body)


def headers_for(case: Hostile) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if case.auth:
        headers["Authorization"] = f"Bearer {API_KEY}"
    headers.update(case.headers)
    return headers


def send(server: Server, case: Hostile, client: httpx.Client | None = None) -> Answer:
    """Send one catalog row to the server and return its answer."""
    payload = case.payload()
    if len(payload) > 8 * 1024 * 1024 or case.chunked:
        return send_raw(
            server, case.method, case.path, payload, headers_for(case), chunked=case.chunked
        )
    own = client is None
    http = client or httpx.Client(timeout=REQUEST_TIMEOUT_S)
    try:
        start = time.monotonic()
        response = http.request(
            case.method,
            server.url + case.path,
            headers=headers_for(case),
            content=payload if case.method != "GET" else None,
        )
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            time.monotonic() - start,
            len(payload),
        )
    finally:
        if own:
            http.close()


def send_raw(
    server: Server,
    method: str,
    path: str,
    payload: bytes,
    headers: dict[str, str],
    *,
    chunked: bool,
) -> Answer:
    """Send `payload` over a socket (with Content-Length, or chunked) while reading the answer."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{server.port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(payload)}")
    sock = socket.create_connection((HOST, server.port), timeout=REQUEST_TIMEOUT_S)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * CHUNK)
    sent = [0]
    notes: list[str] = []
    stop = threading.Event()

    def upload() -> None:
        try:
            for i in range(0, len(payload), CHUNK):
                if stop.is_set():
                    return
                piece = payload[i : i + CHUNK]
                frame = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
                sock.sendall(frame)
                sent[0] += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # the server stopped reading: expected once it has answered
            notes.append(f"upload stopped after {sent[0]} bytes: {type(exc).__name__}")

    start = time.monotonic()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    try:
        status, response_headers, body = _read_response(sock)
    finally:
        stop.set()
        sock.close()
        uploader.join(timeout=10)
    return Answer(status, response_headers, body, time.monotonic() - start, sent[0], notes)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"the connection closed before an answer: {data[:200]!r}")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
        return status, headers, rest[:length]
    while True:  # Connection: close without a length: read to the end
        piece = sock.recv(65536)
        if not piece:
            return status, headers, rest
        rest += piece
