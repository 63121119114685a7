"""Service benchmark: the HTTP service against a floor on the same stack, in the same run.

It starts the service (uvicorn, `app.main:app`, uvloop + httptools, one worker) and the floor
(`bench/floor_app.py`, a minimal FastAPI app that parses the same body and returns it) with
the same uvicorn settings, then loads them from a second process on loopback: `wrk` with a Lua
script for the POST body when it is installed, else a few processes of bounded async httpx
clients. Every run is bounded in time and in connections. The cases, with their targets:

  tiny    the persistent-tape program of wire format section 8 vs an orjson echo of its body:
          throughput >= 0.7x the floor's, p99 < 2x
  function  TensorFlow's persistent-tape example served as a function
          (functions/persistent_tape.json), its vjp over HTTP
          (POST /v1/functions/persistent_tape/vjp) vs an orjson echo of the same body:
          throughput >= 0.7x the floor's
  json    a 1000x1000 float64 input, gradient of sum(x * x) returned as nested lists, vs an
          orjson echo of the same request: latency within 1.2x
  b64     the same with base64 in and out, vs an echo of that body that also decodes and
          re-encodes its base64 (bench/floor_app.py /b64): within 1.2x
  binary  the same over msgpack (raw bytes) vs a raw-bytes echo of that body: within 1.5x
  loop    a 10,000-iteration `for` of small ops, one request at a time, vs the same
          computation with the engine's Python API in this process: at most 1.3x

Beside each throughput case, the server's CPU time per request (microseconds, from the
process's own CPU time over the load run, divided by the requests it answered), against the
floor's: unlike a comparison of worker counts on these 2-core machines shared with the load
generator, it does not depend on how many cores there are.

Each measurement is repeated; the table shows the median of the repeats and, in brackets, the
min and max (machine noise). The baseline column is the floor app, except for loop (the engine
in this process). Notes give the whole machine's busy cores during the runs: the machine may be
shared. BLAS threads are pinned to 1 in every server.

Run: python bench/service.py [--repeat N] [--duration S] [--quick] [--cases tiny,json,...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import gc
import importlib.util
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
# `python bench/service.py` puts bench/ first on sys.path, where bench/engine.py (the engine
# benchmark) would shadow the engine package that the loop case imports.
sys.path[:] = [str(ROOT) if Path(p or ".").resolve() == BENCH else p for p in sys.path]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MSGPACK = "application/msgpack"

# Target of each case: (what is compared, bound, higher_is_better).
TARGETS: dict[str, tuple[str, float, bool]] = {
    "tiny": ("req/s service/floor", 0.7, True),
    "tiny_p99": ("p99 service/floor", 2.0, False),
    "function": ("req/s service/floor", 0.7, True),
    "json": ("p50 service/floor", 1.2, False),
    "b64": ("p50 service/floor", 1.2, False),
    "binary": ("p50 service/floor", 1.5, False),
    "loop": ("service/engine", 1.3, False),
}


# ----- servers -----


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A uvicorn process on a free loopback port."""

    app: str
    workers: int = 1
    app_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # GRADTAPE_* settings of this server
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if self.app_dir is not None:
            cmd += ["--app-dir", str(self.app_dir)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADTAPE_")}
        env.update(dict.fromkeys(THREAD_VARS, "1"))
        env.update(self.env)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    time.sleep(0.5 * self.workers)  # let every worker finish importing
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.app} did not start:\n{log.read_text(errors='replace')[-2000:]}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes (Linux /proc)."""
        if self.proc is None:
            return 0.0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[3]) == self.proc.pid:  # session id: the server's process tree
                    total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # uvicorn and its worker processes
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def running(servers: Sequence[Server], logdir: Path) -> Iterator[None]:
    try:
        for s in servers:
            s.start(logdir / f"{s.app.partition(':')[0]}-{s.port}.log")
        for s in servers:
            s.wait_ready(logdir / f"{s.app.partition(':')[0]}-{s.port}.log")
        yield
    finally:
        for s in servers:
            s.stop()


# ----- request bodies -----


def tiny_body() -> bytes:
    return orjson.dumps(
        {
            "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
            "program": [
                {
                    "tape": "t",
                    "persistent": True,
                    "watch": ["x"],
                    "body": [
                        {"op": "reduce_sum", "args": ["x"], "out": "y"},
                        {"op": "multiply", "args": ["y", "y"], "out": "z"},
                    ],
                },
                {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
                {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"},
            ],
            "outputs": ["dz_dx", "dz_dy"],
        }
    )


SUM_SQUARES = [
    {
        "tape": "t",
        "watch": ["x"],
        "body": [
            {"op": "multiply", "args": ["x", "x"], "out": "y"},
            {"op": "sum", "args": ["y"], "out": "s"},
        ],
    },
    {"gradient": "t", "target": "s", "sources": "x", "out": "g"},
]


def big_array(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, n))


def big_bodies(x: np.ndarray) -> dict[str, bytes]:
    raw = x.astype("<f8").tobytes()
    shape = list(x.shape)
    json_body = orjson.dumps(
        {
            "inputs": {"x": {"data": x, "dtype": "float64"}},
            "program": SUM_SQUARES,
            "outputs": ["g"],
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    b64_body = orjson.dumps(
        {
            "inputs": {
                "x": {"b64": base64.b64encode(raw).decode(), "dtype": "float64", "shape": shape}
            },
            "program": SUM_SQUARES,
            "outputs": ["g"],
            "options": {"encoding": "base64"},
        }
    )
    msgpack_body = msgpack.packb(
        {
            "inputs": {"x": {"bytes": raw, "dtype": "float64", "shape": shape}},
            "program": SUM_SQUARES,
            "outputs": ["g"],
        },
        use_bin_type=True,
    )
    return {"json": json_body, "b64": b64_body, "binary": msgpack_body}


LOOP_N = 10_000


def loop_body(n: int) -> bytes:
    # acc = x; for i in range(n): acc = sin(acc) * 0.5 + x; d acc / d x
    return orjson.dumps(
        {
            "inputs": {"x": 0.5},
            "program": [
                {
                    "tape": "t",
                    "watch": ["x"],
                    "body": [
                        {"op": "identity", "args": ["x"], "out": "acc"},
                        {
                            "for": "i",
                            "range": n,
                            "body": [
                                {"op": "sin", "args": ["acc"], "out": "s"},
                                {"op": "multiply", "args": ["s", 0.5], "out": "h"},
                                {"op": "add", "args": ["h", "x"], "out": "acc"},
                            ],
                        },
                    ],
                },
                {"gradient": "t", "target": "acc", "sources": "x", "out": "g"},
            ],
            "outputs": ["acc", "g"],
        }
    )


def loop_engine(n: int) -> tuple[float, float]:
    """The loop case with the engine's Python API, in this process."""
    import engine as gt

    x = gt.constant(0.5)
    with gt.GradientTape() as t:
        t.watch(x)
        acc = gt.identity(x)
        for _ in range(n):
            acc = gt.add(gt.multiply(gt.sin(acc), 0.5), x)
    g = t.gradient(acc, x)
    return float(acc.numpy()), float(g.numpy())


# ----- load generation -----


@dataclass
class Sample:
    """One load run: throughput, latency percentiles (ms), and failures."""

    rps: float
    p50: float
    p99: float
    requests: int
    errors: int
    cores: float = 0.0  # the server's CPU seconds per wall second during the run
    busy: float = 0.0  # busy cores of the whole machine during the run (every process)


WRK_SCRIPT = r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE")
wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT")
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %.3f %.3f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000.0, latency:percentile(99) / 1000.0))
end
"""


def run_wrk(
    url: str,
    body: Path,
    ctype: str,
    accept: str,
    conns: int,
    seconds: float,
    workdir: Path,
    close: bool = False,
) -> Sample:
    script = workdir / "post.lua"
    if not script.exists():
        script.write_text(WRK_SCRIPT)
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_CTYPE": ctype, "BENCH_ACCEPT": accept}
    env["BENCH_CLOSE"] = "1" if close else "0"
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "60s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 90, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    n, micros, errors, p50, p99 = line.split()[1:]
    return Sample(int(n) / (int(micros) / 1e6), float(p50), float(p99), int(n), int(errors))


def _httpx_worker(
    args: tuple[str, bytes, str, str, int, float, bool],
) -> tuple[list[float], int, float]:
    url, body, ctype, accept, conns, seconds, close = args

    async def main() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        headers = {"content-type": ctype, "accept": accept}
        if close:
            headers["connection"] = "close"
        limits = httpx.Limits(max_connections=conns)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            start = time.perf_counter()
            stop = start + seconds

            async def loop() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    r = await client.post(url, content=body, headers=headers)
                    await r.aread()
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors += not r.is_success

            await asyncio.gather(*(loop() for _ in range(conns)))
            return latencies, errors, time.perf_counter() - start

    return asyncio.run(main())


def run_httpx(
    url: str,
    body: Path,
    ctype: str,
    accept: str,
    conns: int,
    seconds: float,
    procs: int = 2,
    close: bool = False,
) -> Sample:
    """Closed-loop load from `procs` processes, `conns` connections in all."""
    per = [max(1, conns // procs + (i < conns % procs)) for i in range(min(procs, conns))]
    data = body.read_bytes()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(per)) as pool:
        parts = pool.map(
            _httpx_worker, [(url, data, ctype, accept, c, seconds, close) for c in per]
        )
    latencies = sorted(x for lat, _, _ in parts for x in lat)
    errors = sum(e for _, e, _ in parts)
    elapsed = max(t for _, _, t in parts)
    n = len(latencies)
    return Sample(n / elapsed, latencies[n // 2], latencies[min(n - 1, int(n * 0.99))], n, errors)


# ----- cases -----


@dataclass
class Row:
    """One line of the table."""

    case: str
    what: str
    service: list[float]
    floor: list[float]
    unit: str
    target: str
    notes: str = ""

    @property
    def ratio(self) -> float:
        return statistics.median(self.service) / statistics.median(self.floor)

    def met(self, key: str) -> str:
        _, bound, higher = TARGETS[key]
        ok = self.ratio >= bound if higher else self.ratio <= bound
        return "MET" if ok else "MISSED"


def machine_ticks() -> tuple[int, int]:
    """(all, idle) jiffies of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(ticks), ticks[3] + ticks[4]


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    total, idle = after[0] - before[0], after[1] - before[1]
    return (os.cpu_count() or 1) * (1 - idle / total) if total else 0.0


def spread(values: Sequence[float]) -> str:
    med = statistics.median(values)
    digits = 2 if med < 10 else 1
    return f"{med:,.{digits}f} [{min(values):,.{digits}f}-{max(values):,.{digits}f}]"


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.use_wrk = shutil.which("wrk") is not None and not args.httpx
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.case = ""
        self.busy: dict[str, list[float]] = {}

    def body(self, name: str, data: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        return path

    def load(
        self,
        server: Server,
        path: str,
        body: Path,
        ctype: str = "application/json",
        accept: str = "application/json",
        conns: int = 1,
        seconds: float | None = None,
        close: bool = False,
    ) -> Sample:
        secs = seconds or self.args.duration
        url = f"{server.url}{path}"
        cpu0, t0, machine0 = server.cpu_seconds(), time.perf_counter(), machine_ticks()
        if self.use_wrk:
            sample = run_wrk(url, body, ctype, accept, conns, secs, self.workdir, close)
        else:
            sample = run_httpx(url, body, ctype, accept, conns, secs, close=close)
        sample.cores = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
        sample.busy = busy_cores(machine0, machine_ticks())
        self.busy.setdefault(self.case, []).append(sample.busy)
        if sample.errors:
            self.notes.append(f"{url}: {sample.errors} of {sample.requests} requests failed")
        return sample

    def pair(
        self, service: Callable[[], Sample], floor: Callable[[], Sample]
    ) -> tuple[list[Sample], list[Sample]]:
        """Alternate service and floor runs, `repeat` times each."""
        s, f = [], []
        for _ in range(self.args.repeat):
            s.append(service())
            f.append(floor())
        return s, f

    def record_latency(
        self, case: str, what: str, s: list[Sample], f: list[Sample], note: str = ""
    ) -> None:
        self.rows.append(
            Row(
                case,
                f"{what} p50",
                [x.p50 for x in s],
                [x.p50 for x in f],
                "ms",
                TARGETS[case][0],
                note,
            )
        )
        self.rows.append(
            Row(case, f"{what} p99", [x.p99 for x in s], [x.p99 for x in f], "ms", "(info)")
        )


def check_service(url: str, body: bytes, ctype: str = "application/json") -> Any:
    """One request, checked for success; returns the parsed body."""
    r = httpx.post(
        f"{url}/v1/run", content=body, timeout=120, headers={"content-type": ctype, "accept": ctype}
    )
    if not r.is_success:
        raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
    if r.headers.get("content-type", "").startswith(MSGPACK):
        return msgpack.unpackb(r.content, raw=False)
    return orjson.loads(r.content)


def case_tiny(b: Bench, svc: Server, floor: Server) -> None:
    b.case = "tiny"
    body = b.body("tiny.json", tiny_body())
    out = check_service(svc.url, body.read_bytes())["outputs"]
    assert out["dz_dy"]["data"] == 8.0, out
    conns = b.args.conns
    s, f = b.pair(
        lambda: b.load(svc, "/v1/run", body, conns=conns),
        lambda: b.load(floor, "/json", body, conns=conns),
    )
    b.rows.append(
        Row(
            "tiny",
            f"req/s, {conns} conns",
            [x.rps for x in s],
            [x.rps for x in f],
            "req/s",
            TARGETS["tiny"][0],
        )
    )
    b.rows.append(
        Row(
            "tiny_p99",
            f"p99, {conns} conns",
            [x.p99 for x in s],
            [x.p99 for x in f],
            "ms",
            TARGETS["tiny_p99"][0],
        )
    )
    b.rows.append(
        Row(
            "tiny_p50",
            f"p50, {conns} conns",
            [x.p50 for x in s],
            [x.p50 for x in f],
            "ms",
            "(info)",
        )
    )
    b.rows.append(cpu_per_request("tiny", s, f))


FUNCTION_PATH = "/v1/functions/persistent_tape/vjp"


def function_body() -> bytes:
    """A vjp of the persistent-tape example at x = 3: dz/dx = 4 x^3 = 108."""
    return orjson.dumps({"inputs": {"x": 3.0}, "cotangents": {"z": 1.0}})


def case_function(b: Bench, svc: Server, floor: Server) -> None:
    b.case = "function"
    body = b.body("function.json", function_body())
    r = httpx.post(f"{svc.url}{FUNCTION_PATH}", content=body.read_bytes(), timeout=60)
    if not r.is_success:
        raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
    assert orjson.loads(r.content)["gradients"]["x"]["data"] == 108.0, r.text
    conns = b.args.conns
    s, f = b.pair(
        lambda: b.load(svc, FUNCTION_PATH, body, conns=conns),
        lambda: b.load(floor, "/json", body, conns=conns),
    )
    rps = "req/s", [x.rps for x in s], [x.rps for x in f]
    b.rows.append(Row("function", f"vjp req/s, {conns} conns", rps[1], rps[2], *rps[:1],
                      TARGETS["function"][0]))  # fmt: skip
    b.rows.append(
        Row("function_p99", f"vjp p99, {conns} conns", [x.p99 for x in s],
            [x.p99 for x in f], "ms", "(info)")
    )  # fmt: skip
    b.rows.append(cpu_per_request("function", s, f))


def cpu_per_request(case: str, service: Sequence[Any], floor: Sequence[Any]) -> Row:
    """The server process's CPU time per answered request (us), each load run's own."""

    def per_request(runs: Sequence[Any]) -> list[float]:
        return [x.cores / x.rps * 1e6 for x in runs]

    return Row(
        f"{case}_cpu", "server CPU per request", per_request(service), per_request(floor), "us",
        "(info)",
    )  # fmt: skip


def case_big(b: Bench, svc: Server, floor: Server, which: Sequence[str]) -> None:
    x = big_array(b.args.size)
    bodies = big_bodies(x)
    expect = 2 * x
    for case in which:
        b.case = case
        data = bodies[case]
        ctype = MSGPACK if case == "binary" else "application/json"
        try:
            res = check_service(svc.url, data, ctype)
        except RuntimeError as exc:
            if case == "binary":
                b.notes.append(f"binary: skipped, the service refused msgpack ({exc})")
                continue
            raise
        g = res["outputs"]["g"]
        if "b64" in g:
            got = np.frombuffer(base64.b64decode(g["b64"]), "<f8")
        elif "bytes" in g:
            got = np.frombuffer(g["bytes"], "<f8")
        else:
            got = np.asarray(g["data"])
        np.testing.assert_allclose(got.reshape(x.shape), expect)
        body = b.body(f"big_{case}", data)
        floor_path = {"json": "/json", "b64": "/b64", "binary": "/raw"}[case]
        seconds = b.args.duration * 1.5
        s, f = b.pair(
            functools.partial(b.load, svc, "/v1/run", body, ctype, ctype, seconds=seconds),
            functools.partial(b.load, floor, floor_path, body, ctype, ctype, seconds=seconds),
        )
        mib = len(data) / 2**20
        b.record_latency(case, f"{b.args.size}x{b.args.size}, {mib:.0f} MiB in", s, f)


def case_loop(b: Bench, svc: Server) -> None:
    b.case = "loop"
    n = b.args.loop
    data = loop_body(n)
    res = check_service(svc.url, data)
    gc.freeze()  # as the service does after start-up: a fair baseline for allocation-heavy loops
    want = loop_engine(n)
    got = (res["outputs"]["acc"]["data"], res["outputs"]["g"]["data"])
    np.testing.assert_allclose(got, want)
    service, engine, server_ms = [], [], []
    with httpx.Client(timeout=120) as client:
        for _ in range(b.args.repeat):
            for _ in range(b.args.loop_requests):
                t0 = time.perf_counter()
                r = client.post(
                    f"{svc.url}/v1/run", content=data, headers={"content-type": "application/json"}
                )
                service.append((time.perf_counter() - t0) * 1000)
                server_ms.append(orjson.loads(r.content)["stats"]["elapsed_ms"])
            for _ in range(b.args.loop_requests):
                t0 = time.perf_counter()
                loop_engine(n)
                engine.append((time.perf_counter() - t0) * 1000)
    b.rows.append(
        Row(
            "loop",
            f"{n} iterations, latency",
            service,
            engine,
            "ms",
            TARGETS["loop"][0],
            f"server-side elapsed_ms {spread(server_ms)}",
        )
    )


def print_table(b: Bench) -> None:
    head = (
        "case",
        "measure",
        "service med [min-max]",
        "baseline med [min-max]",
        "ratio",
        "target",
        "",
    )
    lines = []
    for r in b.rows:
        target = "" if r.target == "(info)" else r.target
        key = r.case if r.case in TARGETS and r.target != "(info)" else ""
        bound = ""
        if key:
            _, lim, higher = TARGETS[key]
            bound = f"{'>=' if higher else '<='} {lim}x"
        met = r.met(key) if key else ""
        lines.append(
            (
                r.case,
                f"{r.what} ({r.unit})",
                spread(r.service),
                spread(r.floor),
                f"{r.ratio:.2f}x",
                f"{target} {bound}".strip(),
                met,
            )
        )
        if r.notes:
            b.notes.append(f"{r.case}: {r.notes}")
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(len(head))]
    for row in [head, *lines]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for case, values in b.busy.items():
        print(
            f"note: {case}: the whole machine was busy {spread(values)} of "
            f"{os.cpu_count()} cores during the load runs (servers, load and anything else)"
        )
    for note in b.notes:
        print(f"note: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each measurement")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    parser.add_argument("--conns", type=int, default=4, help="connections for throughput cases")
    parser.add_argument("--size", type=int, default=1000, help="side of the big input")
    parser.add_argument("--loop", type=int, default=LOOP_N, help="iterations of the loop case")
    parser.add_argument("--loop-requests", type=int, default=3, help="requests per repeat")
    parser.add_argument("--cases", default="tiny,function,json,b64,binary,loop")
    parser.add_argument("--httpx", action="store_true", help="use httpx load even if wrk exists")
    parser.add_argument("--quick", action="store_true", help="1 repeat of 2 s: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.duration, args.loop_requests = 1, 2.0, 1
    cases = set(args.cases.split(","))
    for mod in ("uvloop", "httptools"):
        if importlib.util.find_spec(mod) is None:
            parser.error(f"{mod} is not installed (uvicorn[standard] provides it)")

    with tempfile.TemporaryDirectory(prefix="gradtape-bench-") as tmp:
        workdir = Path(tmp)
        b = Bench(args, workdir)
        svc = Server("app.main:app", env={"GRADTAPE_FUNCTIONS_DIR": str(ROOT / "functions")})
        floor = Server("floor_app:app", app_dir=BENCH)
        servers = [svc, floor]
        print(
            f"load: {'wrk' if b.use_wrk else 'httpx processes'}; {os.cpu_count()} cores; "
            f"repeat {args.repeat}, {args.duration:g} s per run",
            flush=True,
        )
        with running(servers, workdir):
            if "tiny" in cases:
                case_tiny(b, svc, floor)
            if "function" in cases:
                case_function(b, svc, floor)
            big = [c for c in ("json", "b64", "binary") if c in cases]
            if big:
                case_big(b, svc, floor, big)
            if "loop" in cases:
                case_loop(b, svc)
        print_table(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
