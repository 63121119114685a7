// A gradtape client for Node 18+ (and browsers): built-in fetch, and @msgpack/msgpack for the
// binary transport (`npm ci` in this folder installs it).
//
//   import { Gradtape, toB64, fromB64 } from './gradtape.mjs';
//   const gt = new Gradtape('http://127.0.0.1:8000', { apiKey: process.env.GRADTAPE_API_KEY });
//   const res = await gt.run({ inputs: {...}, program: [...], outputs: ['dz_dx'] });
//   decode(res.outputs.dz_dx)  // -> { data: Float64Array, shape: [2, 2], dtype: 'float64' }
//
// Three ways to send tensors (docs/wire-format.md section 2): nested arrays (`{data, dtype, shape}`),
// base64 of little-endian bytes inside JSON (`toB64`), and raw bytes inside a msgpack body
// (`toBytes` with `runMsgpack`).

import { decode as unpack, encode as pack } from '@msgpack/msgpack';

const MSGPACK = 'application/msgpack';

/** Typed-array constructors for the wire dtypes (float16 comes back as raw Uint16 bits). */
export const DTYPES = {
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
};

const ALIASES = {
  FP16: 'float16', FP32: 'float32', FP64: 'float64', INT32: 'int32', INT64: 'int64', BOOL: 'bool',
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A problem+json error (docs/wire-format.md section 6): status, code, pointer, title, detail. */
export class GradtapeError extends Error {
  constructor(status, problem = {}, requestId = null) {
    const where = problem.pointer ? ` at ${problem.pointer}` : '';
    super(`${status} ${problem.code ?? problem.title ?? 'error'}${where}: ${problem.detail ?? ''}`);
    this.name = 'GradtapeError';
    this.status = status;
    this.code = problem.code ?? null;
    this.title = problem.title ?? null;
    this.detail = problem.detail ?? null;
    this.pointer = problem.pointer ?? null;
    this.callStack = problem.call_stack ?? [];
    this.problem = problem;
    this.requestId = requestId;
  }
}

function dtypeName(dtype) {
  const name = ALIASES[dtype] ?? dtype;
  if (!(name in DTYPES)) throw new TypeError(`unknown dtype ${dtype}`);
  return name;
}

function dtypeOf(typed) {
  for (const [name, ctor] of Object.entries(DTYPES)) {
    if (typed instanceof ctor && name !== 'float16') return name;
  }
  throw new TypeError(`no wire dtype for ${typed?.constructor?.name}`);
}

// ----- bytes <-> typed arrays (little-endian on the wire, whatever the host) -----

/** The little-endian bytes of a typed array, as a Uint8Array. */
export function typedToBytes(typed) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (LITTLE_ENDIAN || typed.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes);
  const n = typed.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += n) out.subarray(i, i + n).reverse();
  return out;
}

/** A typed array of `dtype` over little-endian `bytes` (copied, so it is aligned). */
export function bytesToTyped(bytes, dtype) {
  const ctor = DTYPES[dtypeName(dtype)];
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (!LITTLE_ENDIAN && ctor.BYTES_PER_ELEMENT > 1) {
    const n = ctor.BYTES_PER_ELEMENT;
    for (let i = 0; i < copy.length; i += n) copy.subarray(i, i + n).reverse();
  }
  if (copy.length % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new RangeError(`${copy.length} bytes is not a whole number of ${dtype} elements`);
  }
  return new ctor(copy.buffer, 0, copy.length / ctor.BYTES_PER_ELEMENT);
}

function b64encode(bytes) {
  if (typeof Buffer !== 'undefined') {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function b64decode(text) {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(text, 'base64'));
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function checkShape(typed, shape) {
  if (product(shape) !== typed.length) {
    throw new RangeError(`shape [${shape}] holds ${product(shape)} elements, not ${typed.length}`);
  }
}

// ----- tensor helpers -----

/** `{b64, dtype, shape}` for a typed array (default shape: 1-D). */
export function toB64(typed, shape = [typed.length], dtype = dtypeOf(typed)) {
  checkShape(typed, shape);
  return { b64: b64encode(typedToBytes(typed)), dtype: dtypeName(dtype), shape: [...shape] };
}

/** `{data: TypedArray, shape, dtype}` from a `{b64, dtype, shape}` object. */
export function fromB64(obj) {
  return { data: bytesToTyped(b64decode(obj.b64), obj.dtype), shape: obj.shape, dtype: obj.dtype };
}

/** `{bytes: Uint8Array, dtype, shape}` for a typed array: the msgpack transport's tensor. */
export function toBytes(typed, shape = [typed.length], dtype = dtypeOf(typed)) {
  checkShape(typed, shape);
  return { bytes: typedToBytes(typed), dtype: dtypeName(dtype), shape: [...shape] };
}

/** `{data: TypedArray, shape, dtype}` from a `{bytes, dtype, shape}` object. */
export function fromBytes(obj) {
  return { data: bytesToTyped(obj.bytes, obj.dtype), shape: obj.shape, dtype: obj.dtype };
}

/** `{data: <nested arrays>, dtype, shape}` for a typed array or nested arrays. */
export function toNested(values, shape, dtype = 'float64') {
  if (ArrayBuffer.isView(values)) {
    const dims = shape ?? [values.length];
    checkShape(values, dims);
    const plain = Array.from(values, (v) => (typeof v === 'bigint' ? Number(v) : v));
    return { data: nest(plain.map(jsonNumber), dims), dtype: dtypeOf(values), shape: dims };
  }
  return { data: mapNested(values, jsonNumber), dtype: dtypeName(dtype), ...(shape && { shape }) };
}

function jsonNumber(v) {
  if (typeof v !== 'number' || Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}

function fromJsonNumber(v) {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v;
}

function mapNested(v, fn) {
  return Array.isArray(v) ? v.map((item) => mapNested(item, fn)) : fn(v);
}

/** A flat array as nested arrays of `shape` (row-major). */
export function nest(flat, shape) {
  if (shape.length === 0) return flat[0];
  const step = product(shape.slice(1));
  const out = [];
  for (let i = 0; i < shape[0]; i++) {
    out.push(nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
  }
  return out;
}

/** Nested arrays (or a number) flattened row-major. */
export function flatten(nested) {
  return Array.isArray(nested) ? nested.flat(Infinity) : [nested];
}

/**
 * Any wire tensor as `{data: TypedArray, shape, dtype}`; `null` (an unconnected gradient)
 * stays `null`. Nested `data` is flattened, with "NaN"/"Infinity" strings made numbers.
 */
export function decode(obj) {
  if (obj === null || obj === undefined) return null;
  if (obj.b64 !== undefined) return fromB64(obj);
  if (obj.bytes !== undefined) return fromBytes(obj);
  const dtype = dtypeName(obj.dtype ?? 'float64');
  const flat = flatten(obj.data).map(fromJsonNumber);
  const ctor = DTYPES[dtype];
  let data;
  if (dtype === 'int64') data = BigInt64Array.from(flat, (v) => BigInt(v));
  else if (dtype === 'bool') data = Uint8Array.from(flat, (v) => (v ? 1 : 0));
  else if (dtype === 'float16') data = Float64Array.from(flat);
  else data = ctor.from(flat);
  return { data, shape: obj.shape ?? [], dtype };
}

/** Every output of a run response decoded with `decode`. */
export function decodeOutputs(response) {
  return Object.fromEntries(Object.entries(response.outputs ?? {}).map(([k, v]) => [k, decode(v)]));
}

// ----- the client -----

export class Gradtape {
  /**
   * @param {string} baseUrl e.g. "http://127.0.0.1:8000"
   * @param {{apiKey?: string, timeoutMs?: number, fetch?: typeof fetch}} options
   */
  constructor(baseUrl = 'http://127.0.0.1:8000', { apiKey, timeoutMs = 60000, fetch: f } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.apiKey = apiKey ?? null;
    this.timeoutMs = timeoutMs;
    this.fetch = f ?? globalThis.fetch;
  }

  headers(extra) {
    const h = { ...extra };
    if (this.apiKey) h.Authorization = `Bearer ${this.apiKey}`;
    return h;
  }

  async send(method, path, body, contentType, accept) {
    const headers = this.headers({ Accept: accept });
    if (body !== undefined) headers['Content-Type'] = contentType;
    const response = await this.fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const type = (response.headers.get('content-type') ?? '').split(';')[0].trim();
    const bytes = new Uint8Array(await response.arrayBuffer());
    let parsed;
    try {
      parsed = type.endsWith('msgpack')
        ? unpack(bytes) // bins come back as views of `bytes`, not copies
        : JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      parsed = { detail: new TextDecoder().decode(bytes).slice(0, 200) };
    }
    if (!response.ok) {
      throw new GradtapeError(response.status, parsed ?? {}, response.headers.get('x-request-id'));
    }
    return parsed;
  }

  /** POST /v1/run with a JSON body; returns the parsed response. */
  run(request) {
    return this.send('POST', '/v1/run', JSON.stringify(request), 'application/json',
      'application/json');
  }

  /** POST /v1/run with a msgpack body (tensors as `toBytes(...)`); outputs come back as bytes. */
  runMsgpack(request) {
    return this.send('POST', '/v1/run', pack(request, { useBigInt64: true }), MSGPACK, MSGPACK);
  }

  /** POST /v1/check: analytic gradients against central differences. */
  check(request) {
    return this.send('POST', '/v1/check', JSON.stringify(request), 'application/json',
      'application/json');
  }

  /** POST /v1/minimize: gradient descent on the server (docs/wire-format.md section 10). */
  minimize(request) {
    return this.send('POST', '/v1/minimize', JSON.stringify(request), 'application/json',
      'application/json');
  }

  /** GET /v1/ops: the op catalog. */
  async ops() {
    return (await this.send('GET', '/v1/ops', undefined, null, 'application/json')).ops;
  }

  /** GET /healthz. */
  health() {
    return this.send('GET', '/healthz', undefined, null, 'application/json');
  }
}
