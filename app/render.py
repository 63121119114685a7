"""The 200 response of an evaluating route: JSON through orjson, or msgpack with raw tensors."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import orjson
from starlette.responses import Response

from app.schemas import JSON, MSGPACK
from engine.program import RunResult
from engine.program.values import WIRE_NAMES, little_endian, wire_array


def render(encoded: dict[str, Any], msgpack_out: bool) -> Response:
    """The 200 response: orjson (NumPy arrays serialized natively) or msgpack."""
    if msgpack_out:
        return Response(packed(encoded), media_type=MSGPACK)
    return Response(orjson.dumps(encoded, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)


def packed(encoded: dict[str, Any]) -> memoryview:
    """The msgpack bytes of a response, packed into a buffer sized for its tensors' bytes up
    front: each tensor is copied once, and the buffer is not grown nor copied again (`packb`
    does both). The view keeps the buffer alive."""
    outputs = encoded.get("outputs")
    size = 4096
    if isinstance(outputs, dict):
        for t in outputs.values():
            if isinstance(t, dict) and isinstance(t.get("bytes"), memoryview):
                size += t["bytes"].nbytes
    packer = msgpack.Packer(use_bin_type=True, autoreset=False, buf_size=size)
    packer.pack(encoded)
    return packer.getbuffer()


def verbatim_b64(outputs: dict[str, Any]) -> None:
    """Each output's base64 string as a JSON fragment, written out as it is: base64 needs no
    escaping, and orjson's string writer would check every character of it. Only for strings of
    the engine's own encoder."""
    for t in outputs.values():
        if t is not None and type(t.get("b64")) is str:
            t["b64"] = orjson.Fragment("".join(('"', t["b64"], '"')))


def encode_msgpack(result: RunResult) -> dict[str, Any]:
    """The run response for msgpack: each tensor `{"dtype", "shape", "bytes": <raw LE>}`."""
    return {
        "outputs": {name: _raw_tensor(t) for name, t in result.outputs.items()},
        "warnings": result.warnings,
        "stats": result.stats,
    }


def _raw_tensor(t: Any) -> dict[str, Any] | None:
    if t is None:
        return None
    array = wire_array(np.asarray(getattr(t, "value", t)))
    # msgpack packs a buffer as bin: the bytes are copied once, into the response
    name = WIRE_NAMES[array.dtype]
    return {"dtype": name, "shape": list(array.shape), "bytes": little_endian(array).data}
