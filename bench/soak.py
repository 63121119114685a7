"""Soak benchmark: a long run of mixed requests against one live server, watching its memory.

It starts the service (`uvicorn app.main:app`, one worker) on a free loopback port, sends a
warm-up of mixed requests, reads the server's RSS (/proc/<pid>/status), then sends the measured
requests from a few client threads (bounded in count and in wall time) and reads the RSS again.
The mix: the request families of the concurrency test (tests/hardening/families.py: the
tutorial, variables with unconnected warnings, nested-tape second order, a function called in a
loop, a 5,000-element input, a 600-iteration loop, base64 outputs, and requests the service must
refuse: unknown names, shape errors, tape misuse, loop and element limits), and malformed JSON.

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

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/soak.py`: the server helper is the tests'

from tests.hardening.families import FAMILIES, REFUSED  # noqa: E402
from tests.hardening.server import Server, serving  # noqa: E402

RSS_GROWTH_LIMIT_PCT = 10.0


# ----- the request mix -----
def request_mix() -> list[tuple[str, bytes, int]]:
    """(name, body, expected status) for each kind of request in the soak: the concurrency
    test's request families, and a body that is not JSON."""
    mix = [
        (family.__name__, orjson.dumps(family(1.0)), 422 if family in REFUSED else 200)
        for family in FAMILIES
    ]
    return [*mix, ("bad_json", b'{"program": [', 400)]


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
    with serving({"GRADTAPE_MAX_QUEUE": str(2 * args.clients)}) as server:
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
