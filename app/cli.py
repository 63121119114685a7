"""The `gradtape` command: `serve` runs the service, `run FILE` evaluates a request locally."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path


# The service's packages (the `server` extra) are imported when a command runs, so that without
# them the command says what to install instead of failing at import.
def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        workers=args.workers or settings.workers,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        log_config=None,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    import orjson

    from app import problems
    from app.admission import evaluate
    from app.body import Body
    from app.routes.run import run_encoded
    from app.settings import get_settings

    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"gradtape: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        if args.encoding is not None:
            raw = _with_encoding(raw, args.encoding)
        response = evaluate(run_encoded, Body(raw=raw), get_settings().limits())
    except Exception as exc:
        _status, body, _headers = problems.describe(exc)
        if _status == 500:
            raise
        sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        return 1
    assert response is not None  # no trial: evaluate always answers
    sys.stdout.buffer.write(_pretty(bytes(response.body)) + b"\n")
    return 0


def _with_encoding(raw: bytes, encoding: str) -> bytes:
    """The request with `options.encoding` set (when the file holds a JSON object)."""
    import orjson

    from app.body import Body, decode_body

    request = decode_body(Body(raw=raw))
    options = request.get("options")
    request["options"] = {**(options if isinstance(options, dict) else {}), "encoding": encoding}
    return orjson.dumps(request)


def _pretty(raw: bytes) -> bytes:
    import orjson

    return orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gradtape` script."""
    parser = argparse.ArgumentParser(prog="gradtape", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (uvicorn)")
    serve.add_argument("--host", help="bind address (default: GRADTAPE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: GRADTAPE_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: GRADTAPE_WORKERS)")
    serve.set_defaults(handler=_serve)

    run = commands.add_parser("run", help="evaluate a run request file locally, print the response")
    run.add_argument("file", help="a JSON run request (wire format section 3); - reads stdin")
    run.add_argument("--encoding", choices=("json", "base64"), help="override options.encoding")
    run.set_defaults(handler=_run)

    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ModuleNotFoundError as exc:  # a client-only install: the service's packages are absent
        print(
            f"gradtape {args.command}: the service needs its packages ({exc.name} is missing): "
            "pip install 'gradtape[server]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
