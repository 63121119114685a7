"""msgpack bodies with their bins left in place: the few objects around big tensors, read without
copying the tensors' bytes (msgpack-python copies every bin into a new bytes object: one more
pass over the largest thing in the request)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

# The walker is Python: it takes bodies of a thousand objects at most (a program and its
# tensors' headers), and hands anything else back to msgpack (see Fallback).
MAX_ITEMS = 1024  # a bounded walk at most, before msgpack takes over
MAX_ARRAY = 256
MAX_DEPTH = 64

# The type bytes beyond the fix- ranges: constants, fixed-width numbers (big-endian), and the
# kinds whose length comes first (bin, str, array, map) with the length's width.
_CONSTANTS = {0xC0: None, 0xC2: False, 0xC3: True}
_NUMBERS = {b: struct.Struct(f">{c}") for b, c in zip(range(0xCA, 0xD4), "fdBHIQbhiq", strict=True)}
_U8, _U16, _U32 = (struct.Struct(f">{c}") for c in "BHI")
_SIZED = {
    0xC4: ("bin", _U8), 0xC5: ("bin", _U16), 0xC6: ("bin", _U32),
    0xD9: ("str", _U8), 0xDA: ("str", _U16), 0xDB: ("str", _U32),
    0xDC: ("array", _U16), 0xDD: ("array", _U32),
    0xDE: ("map", _U16), 0xDF: ("map", _U32),
}  # fmt: skip


# NumPy is slow on unaligned data (the README's performance section has the figure): a body's
# buffer is placed so that
# its first big bin is aligned, and engine.program.values.from_raw copies an unaligned one.
ALIGN = 16
BIG_BIN = 4096


class Fallback(Exception):
    """Not a body for the walker: decode it with msgpack, which also reports its faults."""


class _Found(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset


def first_bin_offset(head: bytes) -> int | None:
    """Where the data of the body's first bin of BIG_BIN bytes or more starts, if `head` (the
    body's first bytes) reaches its header and the walker takes what comes before it."""
    walker = _Walker(memoryview(head).cast("B"), lambda container: container, find=True)
    try:
        walker.value(0)
    except _Found as found:
        return found.offset
    except (Fallback, IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


def unpack_in_place(raw: memoryview, count: Callable[[Any], Any]) -> Any:
    """`msgpack.unpackb(raw, raw=False, strict_map_key=True, object_hook=count,
    list_hook=count)`, except that each bin is a read-only view into `raw`. Raises Fallback on
    what the walker leaves to msgpack: more than MAX_ITEMS objects, an array longer than
    MAX_ARRAY or nesting deeper than MAX_DEPTH, ext types, map keys that are not strings,
    malformed or trailing data."""
    walker = _Walker(raw.toreadonly().cast("B"), count)
    try:
        value = walker.value(0)
    except (IndexError, struct.error, UnicodeDecodeError):
        raise Fallback from None
    if walker.pos != len(walker.buf):
        raise Fallback
    return value


class _Walker:
    __slots__ = ("buf", "count", "find", "items", "pos")

    def __init__(self, buf: memoryview, count: Callable[[Any], Any], find: bool = False) -> None:
        self.buf, self.count, self.find = buf, count, find
        self.pos, self.items = 0, MAX_ITEMS

    def value(self, depth: int) -> Any:
        self.items -= 1
        if self.items < 0 or depth > MAX_DEPTH:
            raise Fallback
        buf, pos = self.buf, self.pos
        b = buf[pos]
        self.pos = pos = pos + 1
        if b < 0x80:  # positive fixint
            return b
        if b < 0x90:
            return self.map(b & 0x0F, depth)
        if b < 0xA0:
            return self.array(b & 0x0F, depth)
        if b < 0xC0:
            return self.text(b & 0x1F)
        if b >= 0xE0:  # negative fixint
            return b - 0x100
        if b in _CONSTANTS:
            return _CONSTANTS[b]
        number = _NUMBERS.get(b)
        if number is not None:
            return self.fixed(number)
        sized = _SIZED.get(b)
        if sized is None:
            raise Fallback  # 0xC1 (never used), ext and fixext types
        kind, length = sized
        n = self.fixed(length)
        if kind == "bin":
            return self.bin(n)
        if kind == "str":
            return self.text(n)
        return self.array(n, depth) if kind == "array" else self.map(n, depth)

    def fixed(self, form: struct.Struct) -> Any:
        pos = self.pos
        self.pos = pos + form.size
        return form.unpack_from(self.buf, pos)[0]

    def take(self, n: int) -> memoryview:
        pos = self.pos
        end = pos + n
        if end > len(self.buf):
            raise IndexError("truncated")
        self.pos = end
        return self.buf[pos:end]

    def text(self, n: int) -> str:
        return str(self.take(n), "utf-8")

    def bin(self, n: int) -> memoryview:
        if self.find and n >= BIG_BIN:
            raise _Found(self.pos)
        return self.take(n)

    def array(self, n: int, depth: int) -> list[Any]:
        if n > MAX_ARRAY:
            raise Fallback
        value = self.value
        return self.count([value(depth + 1) for _ in range(n)])

    def map(self, n: int, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        value = self.value
        for _ in range(n):
            key = value(depth + 1)
            if type(key) is not str:
                raise Fallback
            out[key] = value(depth + 1)
        return self.count(out)
