// A small msgpack encoder and decoder, without dependencies, for gradtape's binary transport.
//
// It covers what gradtape's bodies hold: maps (plain objects and Map), arrays, strings, binary
// (Uint8Array; other typed arrays are sent as their bytes), float64, integers (BigInt for
// 64-bit values beyond 2^53), booleans and nil. Extension types are refused.
//
// JavaScript has one number type, so an integral number is packed as a msgpack integer. Wrap a
// value in `float64(x)` to force a float64 (the service infers int64 from an integer).

export class Float64 {
  constructor(value) {
    this.value = Number(value);
  }
}

/** Force `value` to be packed as a msgpack float64. */
export function float64(value) {
  return new Float64(value);
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  constructor(size = 1024) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  reserve(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v) {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  head(tag, size, n) {
    this.reserve(1 + n);
    this.buf[this.pos++] = tag;
    if (n === 1) this.view.setUint8(this.pos, size);
    else if (n === 2) this.view.setUint16(this.pos, size);
    else if (n === 4) this.view.setUint32(this.pos, size);
    else if (n === 8) this.view.setBigUint64(this.pos, BigInt(size));
    this.pos += n;
  }

  bytes(u8) {
    this.reserve(u8.length);
    this.buf.set(u8, this.pos);
    this.pos += u8.length;
  }

  result() {
    return this.buf.subarray(0, this.pos);
  }
}

function encodeFloat(w, v) {
  w.reserve(9);
  w.buf[w.pos++] = 0xcb;
  w.view.setFloat64(w.pos, v);
  w.pos += 8;
}

function encodeInt(w, v) {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) w.head(0xcc, v, 1);
    else if (v < 0x10000) w.head(0xcd, v, 2);
    else if (v < 0x100000000) w.head(0xce, v, 4);
    else w.head(0xcf, v, 8);
    return;
  }
  if (v >= -32) {
    w.u8(v & 0xff);
    return;
  }
  w.reserve(9);
  if (v >= -0x80) {
    w.buf[w.pos++] = 0xd0;
    w.view.setInt8(w.pos, v);
    w.pos += 1;
  } else if (v >= -0x8000) {
    w.buf[w.pos++] = 0xd1;
    w.view.setInt16(w.pos, v);
    w.pos += 2;
  } else if (v >= -0x80000000) {
    w.buf[w.pos++] = 0xd2;
    w.view.setInt32(w.pos, v);
    w.pos += 4;
  } else {
    w.buf[w.pos++] = 0xd3;
    w.view.setBigInt64(w.pos, BigInt(v));
    w.pos += 8;
  }
}

function encodeBigInt(w, v) {
  if (v >= -(2n ** 63n) && v < 0n) {
    w.reserve(9);
    w.buf[w.pos++] = 0xd3;
    w.view.setBigInt64(w.pos, v);
    w.pos += 8;
  } else if (v >= 0n && v < 2n ** 64n) {
    w.reserve(9);
    w.buf[w.pos++] = 0xcf;
    w.view.setBigUint64(w.pos, v);
    w.pos += 8;
  } else {
    throw new RangeError(`msgpack: integer ${v} does not fit in 64 bits`);
  }
}

function encodeStr(w, s) {
  const u8 = textEncoder.encode(s);
  const n = u8.length;
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) w.head(0xd9, n, 1);
  else if (n < 0x10000) w.head(0xda, n, 2);
  else w.head(0xdb, n, 4);
  w.bytes(u8);
}

function encodeBin(w, u8) {
  const n = u8.length;
  if (n < 0x100) w.head(0xc4, n, 1);
  else if (n < 0x10000) w.head(0xc5, n, 2);
  else w.head(0xc6, n, 4);
  w.bytes(u8);
}

function encodeMap(w, entries) {
  const n = entries.length;
  if (n < 16) w.u8(0x80 | n);
  else if (n < 0x10000) w.head(0xde, n, 2);
  else w.head(0xdf, n, 4);
  for (const [k, v] of entries) {
    encodeValue(w, k);
    encodeValue(w, v);
  }
}

function encodeValue(w, v) {
  if (v === null || v === undefined) w.u8(0xc0);
  else if (v === false) w.u8(0xc2);
  else if (v === true) w.u8(0xc3);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) encodeInt(w, v);
    else encodeFloat(w, v);
  } else if (typeof v === 'bigint') encodeBigInt(w, v);
  else if (typeof v === 'string') encodeStr(w, v);
  else if (v instanceof Float64) encodeFloat(w, v.value);
  else if (v instanceof Uint8Array) encodeBin(w, v);
  else if (ArrayBuffer.isView(v)) {
    encodeBin(w, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  else if (v instanceof ArrayBuffer) encodeBin(w, new Uint8Array(v));
  else if (Array.isArray(v)) {
    const n = v.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n < 0x10000) w.head(0xdc, n, 2);
    else w.head(0xdd, n, 4);
    for (const item of v) encodeValue(w, item);
  } else if (v instanceof Map) encodeMap(w, [...v.entries()]);
  else if (typeof v === 'object') {
    encodeMap(w, Object.entries(v).filter(([, item]) => item !== undefined));
  } else throw new TypeError(`msgpack: cannot encode ${typeof v}`);
}

/** Pack `value` into a Uint8Array. */
export function encode(value) {
  const w = new Writer();
  encodeValue(w, value);
  return w.result();
}

class Reader {
  constructor(u8) {
    this.buf = u8;
    this.view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.buf.length) throw new RangeError('msgpack: truncated input');
  }

  uint(n) {
    this.need(n);
    const p = this.pos;
    this.pos += n;
    if (n === 1) return this.view.getUint8(p);
    if (n === 2) return this.view.getUint16(p);
    if (n === 4) return this.view.getUint32(p);
    return bigToNumber(this.view.getBigUint64(p));
  }

  int(n) {
    this.need(n);
    const p = this.pos;
    this.pos += n;
    if (n === 1) return this.view.getInt8(p);
    if (n === 2) return this.view.getInt16(p);
    if (n === 4) return this.view.getInt32(p);
    return bigToNumber(this.view.getBigInt64(p));
  }

  float(n) {
    this.need(n);
    const p = this.pos;
    this.pos += n;
    return n === 4 ? this.view.getFloat32(p) : this.view.getFloat64(p);
  }

  str(n) {
    this.need(n);
    const s = textDecoder.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  bin(n) {
    this.need(n);
    // A copy, so that typed-array views of it are aligned and independent of the body.
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  array(n) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value();
    return out;
  }

  map(n) {
    const out = {};
    for (let i = 0; i < n; i++) {
      const key = this.value();
      if (typeof key !== 'string') throw new TypeError('msgpack: map keys must be strings');
      out[key] = this.value();
    }
    return out;
  }

  value() {
    this.need(1);
    const b = this.buf[this.pos++];
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f);
    if (b < 0xa0) return this.array(b & 0x0f);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.uint(1));
      case 0xc5: return this.bin(this.uint(2));
      case 0xc6: return this.bin(this.uint(4));
      case 0xca: return this.float(4);
      case 0xcb: return this.float(8);
      case 0xcc: return this.uint(1);
      case 0xcd: return this.uint(2);
      case 0xce: return this.uint(4);
      case 0xcf: return this.uint(8);
      case 0xd0: return this.int(1);
      case 0xd1: return this.int(2);
      case 0xd2: return this.int(4);
      case 0xd3: return this.int(8);
      case 0xd9: return this.str(this.uint(1));
      case 0xda: return this.str(this.uint(2));
      case 0xdb: return this.str(this.uint(4));
      case 0xdc: return this.array(this.uint(2));
      case 0xdd: return this.array(this.uint(4));
      case 0xde: return this.map(this.uint(2));
      case 0xdf: return this.map(this.uint(4));
      default:
        throw new TypeError(`msgpack: unsupported type byte 0x${b.toString(16)}`);
    }
  }
}

function bigToNumber(v) {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/** Unpack one msgpack value from a Uint8Array, ArrayBuffer or Buffer. */
export function decode(data) {
  const u8 = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  const r = new Reader(u8);
  const value = r.value();
  if (r.pos !== u8.length) throw new RangeError('msgpack: trailing bytes after the value');
  return value;
}
