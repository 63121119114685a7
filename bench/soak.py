"""Soak benchmark: a long run of mixed requests against one live server, watching its memory.

It starts the service (`uvicorn app.main:app`, one worker) on a free loopback port, sends a
warm-up of mixed requests, reads the server's RSS (/proc/<pid>/status), then sends the measured
requests from a few client threads (bounded in count and in wall time) and reads the RSS again.
The mix: the API.md tutorial, variables with unconnected warnings, nested-tape second order, a
function called in a loop, base64 outputs, and requests the service must refuse (unknown names,
shape errors, tape misuse, loop and element limits, malformed JSON).

It prints the RSS at start and end, its growth, the error count (5xx and transport errors),
wrong answers (a status other than the request's expected one), throughput and p50/p99 latency.
The exit status is 1 when there was an error or the RSS grew by 10% or more.

Run: python bench/soak.py [--requests 20000] [--warmup 1000] [--clients 4] [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/soak.py`: the server helper is the tests'

from tests.hardening.server import Server, start_server  # noqa: E402

RSS_GROWTH_LIMIT_PCT = 10.0


# ----- the request mix -----
def _op(name: str, args: list[Any], out: str, **attrs: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"op": name, "args": args, "out": out}
    if attrs:
        stmt["attrs"] = attrs
    return stmt


def _run(program: list[Any], inputs: dict[str, Any] | None = None, **extra: Any) -> bytes:
    return orjson.dumps({"inputs": inputs or {}, "program": program, **extra})


def request_mix() -> list[tuple[str, bytes, int]]:
    """(name, body, expected status) for each kind of request in the soak."""
    tutorial = _run(
        [
            {
                "tape": "t",
                "persistent": True,
                "watch": ["x"],
                "body": [_op("reduce_sum", ["x"], "y"), _op("multiply", ["y", "y"], "z")],
            },
            {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
            {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
        ],
        {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
        outputs=["dz_dx", "dz_dy"],
    )
    warnings = _run(
        [
            {"tape": "t", "body": [_op("multiply", ["w", "x"], "p"), _op("sum", ["p"], "loss")]},
            {
                "gradient": "t",
                "target": "loss",
                "sources": ["w", "x", "n"],
                "out": ["gw", "gx", "gn"],
            },
        ],
        {"w": {"data": [0.5, 2.0, -1.0], "variable": True}, "x": [1.0, 2.0, 3.0], "n": 4},
    )
    second_order = _run(
        [
            {
                "tape": "outer",
                "watch": ["x"],
                "body": [
                    {"tape": "inner", "watch": ["x"], "body": [_op("tanh", ["x"], "y")]},
                    {"gradient": "inner", "target": "y", "sources": "x", "out": "dy"},
                ],
            },
            {"gradient": "outer", "target": "dy", "sources": "x", "out": "d2y"},
        ],
        {"x": [0.1, -0.3, 0.25]},
        outputs=["d2y"],
    )
    loop = _run(
        [
            {
                "def": "step",
                "params": ["v"],
                "body": [
                    _op("multiply", ["v", 0.9], "r"),
                    _op("add", ["r", 0.1], "r"),
                    {"return": "r"},
                ],
            },
            {
                "tape": "t",
                "watch": ["x"],
                "body": [
                    _op("identity", ["x"], "v"),
                    {
                        "for": "i",
                        "range": 20,
                        "body": [{"call": "step", "args": ["v"], "out": "v"}],
                    },
                ],
            },
            {"jacobian": "t", "target": "v", "sources": "x", "out": "j"},
        ],
        {"x": [2.0, 1.0]},
        outputs=["j"],
    )
    matrix = _run(
        [
            {
                "tape": "t",
                "watch": ["a"],
                "body": [
                    _op("matmul", ["a", "a"], "b"),
                    _op("tanh", ["b"], "c"),
                    _op("mean", ["c"], "m"),
                ],
            },
            {"gradient": "t", "target": "m", "sources": "a", "out": "g"},
        ],
        {"a": [[0.01 * (i + j) for j in range(32)] for i in range(32)]},
        outputs=["g"],
        options={"encoding": "base64"},
    )
    return [
        ("tutorial", tutorial, 200),
        ("warnings", warnings, 200),
        ("second_order", second_order, 200),
        ("loop", loop, 200),
        ("matrix_b64", matrix, 200),
        ("unknown_name", _run([_op("exp", ["nope"], "y")]), 422),
        ("shape_error", _run([_op("matmul", ["a", "a"], "y")], {"a": [[1.0, 2.0, 3.0]]}), 422),
        (
            "tape_misuse",
            _run(
                [
                    {"tape": "t", "watch": ["x"], "body": [_op("square", ["x"], "y")]},
                    {"gradient": "t", "target": "y", "sources": "x", "out": "g1"},
                    {"gradient": "t", "target": "y", "sources": "x", "out": "g2"},
                ],
                {"x": 1.5},
            ),
            422,
        ),
        (
            "loop_limit",
            _run(
                [{"while": "c", "max_iterations": 50, "body": [_op("add", ["k", 1.0], "k")]}],
                {"c": True, "k": 0.0},
            ),
            422,
        ),
        ("element_limit", _run([_op("zeros", [], "z", shape=[10**6, 10**6])]), 422),
        ("bad_json", b'{"program": [', 400),
    ]


# ----- the load -----
@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    server_errors: int = 0
    transport_errors: int = 0
    wrong: dict[str, int] = field(default_factory=dict)
    sent: int = 0


def load(server: Server, count: int, clients: int, deadline: float, tally: Tally) -> None:
    """Send `count` requests of the mix, round robin, from `clients` threads."""
    mix = request_mix()
    counter = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        headers = {"Content-Type": "application/json"}
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while time.monotonic() < deadline:
                i = next(counter)
                if i >= count:
                    return
                name, body, expected = mix[i % len(mix)]
                start = time.perf_counter()
                try:
                    response = client.post("/v1/run", content=body, headers=headers)
                except httpx.TransportError:
                    with lock:
                        tally.transport_errors += 1
                        tally.sent += 1
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    tally.sent += 1
                    tally.latencies.append(elapsed)
                    if response.status_code >= 500:
                        tally.server_errors += 1
                    elif response.status_code != expected:
                        tally.wrong[name] = tally.wrong.get(name, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()

    # Room for every client at once: the soak measures steady state, not admission.
    server = start_server({"GRADTAPE_MAX_QUEUE": str(2 * args.clients)})
    try:
        started = time.monotonic()
        deadline = started + args.max_seconds
        load(server, args.warmup, args.clients, deadline, Tally())
        rss_start = server.rss_kb() / 1024
        tally = Tally()
        measured = time.monotonic()
        load(server, args.requests, args.clients, deadline, tally)
        seconds = time.monotonic() - measured
        alive = server.alive()
        rss_end = server.rss_kb() / 1024 if alive else float("nan")
        health = httpx.get(server.url + "/healthz", timeout=10).status_code if alive else 0
    finally:
        server.stop()

    growth = (rss_end - rss_start) / rss_start * 100
    errors = tally.server_errors + tally.transport_errors
    lat_ms = [x * 1e3 for x in tally.latencies]
    print(
        f"requests      {tally.sent} measured (+{args.warmup} warm-up), {args.clients} clients, "
        f"{len(request_mix())} kinds"
    )
    print(f"duration      {seconds:.1f} s ({tally.sent / seconds:.0f} req/s)")
    p50, p99 = percentile(lat_ms, 0.50), percentile(lat_ms, 0.99)
    mean = statistics.fmean(lat_ms)
    print(f"latency       p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {mean:.2f} ms")
    print(f"errors        {errors} ({tally.server_errors} 5xx, {tally.transport_errors} transport)")
    print(f"wrong answers {sum(tally.wrong.values())} {tally.wrong or ''}".rstrip())
    print(f"RSS           start {rss_start:.1f} MB (after warm-up), end {rss_end:.1f} MB")
    print(f"RSS growth    {growth:+.2f} % (limit {RSS_GROWTH_LIMIT_PCT:.0f} %)")
    print(f"server        {'alive' if alive else 'DEAD'}, /healthz {health}")
    complete = tally.sent == args.requests
    if not complete:
        print(f"stopped early at the time bound: {tally.sent} of {args.requests}")
    ok = alive and errors == 0 and not tally.wrong and growth < RSS_GROWTH_LIMIT_PCT and complete
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
