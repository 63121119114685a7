// TensorFlow's GradientTape tutorial, run on a gradtape service from Node (no dependencies).
//
//   node examples/js/tutorial.mjs [--url URL] [--transport nested|b64|msgpack|all]
//
// The URL defaults to $GRADTAPE_URL, then http://127.0.0.1:8000; $GRADTAPE_API_KEY is sent as
// a bearer token when set. Every example is run with every transport asked for and its numbers
// are asserted. Exit status: 0 when all pass, 1 on a failure, 77 when the only transport asked
// for is msgpack and the service does not speak it.

import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';

import { Gradtape, GradtapeError, decode, toB64, toBytes, toNested } from './gradtape.mjs';

const SKIP = 77;

// ----- the tutorial's programs (docs/wire-format.md section 4); `tensor` encodes inputs per transport -----

const ONE = { data: 1.0, dtype: 'float64' }; // JSON.stringify(1.0) is "1", an int64 literal

function sumSquare(tensor) {
  // x = ones((2, 2)); with tape t: watch x; y = reduce_sum(x); z = y * y
  return {
    inputs: { x: tensor(new Float64Array([1, 1, 1, 1]), [2, 2]) },
    program: [
      { tape: 't', persistent: true, watch: ['x'], body: [
        { op: 'reduce_sum', args: ['x'], out: 'y' },
        { op: 'multiply', args: ['y', 'y'], out: 'z' },
      ] },
      { gradient: 't', target: 'z', sources: 'x', out: 'dz_dx' },
      { gradient: 't', target: 'z', sources: 'y', out: 'dz_dy' },
    ],
    outputs: ['dz_dx', 'dz_dy'],
  };
}

function oneShot(tensor, source) {
  // The same with a non-persistent tape: one gradient per tape (examples 1 and 2).
  return {
    inputs: { x: tensor(new Float64Array([1, 1, 1, 1]), [2, 2]) },
    program: [
      { tape: 't', watch: ['x'], body: [
        { op: 'reduce_sum', args: ['x'], out: 'y' },
        { op: 'multiply', args: ['y', 'y'], out: 'z' },
      ] },
      { gradient: 't', target: 'z', sources: source, out: 'g' },
    ],
    outputs: ['g'],
  };
}

function persistent(tensor) {
  // x = 3.0; persistent tape: y = x * x; z = y * y; dz_dx = 108, dy_dx = 6
  return {
    inputs: { x: tensor(new Float64Array([3]), []) },
    program: [
      { tape: 't', persistent: true, watch: ['x'], body: [
        { op: 'multiply', args: ['x', 'x'], out: 'y' },
        { op: 'multiply', args: ['y', 'y'], out: 'z' },
      ] },
      { gradient: 't', target: 'z', sources: 'x', out: 'dz_dx' },
      { gradient: 't', target: 'y', sources: 'x', out: 'dy_dx' },
    ],
    outputs: ['dz_dx', 'dy_dx'],
  };
}

function controlFlow(tensor) {
  // def f(x, y): output = 1.0; for i in range(y): if 1 < i < 5: output = output * x
  // def grad(x, y): with tape t: watch x; out = f(x, y); return t.gradient(out, x)
  return {
    inputs: { x: tensor(new Float64Array([2]), []) },
    program: [
      { def: 'f', params: ['x', 'y'], body: [
        { op: 'identity', args: [ONE], out: 'output' },
        { for: 'i', range: 'y', body: [
          { op: 'greater', args: ['i', 1], out: 'above' },
          { op: 'less', args: ['i', 5], out: 'below' },
          { op: 'logical_and', args: ['above', 'below'], out: 'inside' },
          { if: 'inside', then: [{ op: 'multiply', args: ['output', 'x'], out: 'output' }] },
        ] },
        { return: 'output' },
      ] },
      { def: 'grad', params: ['x', 'y'], body: [
        { tape: 't', watch: ['x'], body: [{ call: 'f', args: ['x', 'y'], out: 'out' }] },
        { gradient: 't', target: 'out', sources: 'x', out: 'g' },
        { return: 'g' },
      ] },
      { call: 'grad', args: ['x', 6], out: 'g6' },
      { call: 'grad', args: ['x', 5], out: 'g5' },
      { call: 'grad', args: ['x', 4], out: 'g4' },
    ],
    outputs: ['g6', 'g5', 'g4'],
  };
}

function higherOrder(tensor) {
  // x = Variable(1.0); with tape t: with tape t2: y = x * x * x; dy_dx = t2.gradient(y, x)
  // d2y_dx2 = t.gradient(dy_dx, x)
  return {
    inputs: { x: { ...tensor(new Float64Array([1]), []), variable: true } },
    program: [
      { tape: 't', body: [
        { tape: 't2', body: [
          { op: 'multiply', args: ['x', 'x'], out: 'xx' },
          { op: 'multiply', args: ['xx', 'x'], out: 'y' },
        ] },
        { gradient: 't2', target: 'y', sources: 'x', out: 'dy_dx' },
      ] },
      { gradient: 't', target: 'dy_dx', sources: 'x', out: 'd2y_dx2' },
    ],
    outputs: ['dy_dx', 'd2y_dx2'],
  };
}

const EXAMPLES = [
  ['section 8: dz_dx and dz_dy from one persistent tape', sumSquare,
    { dz_dx: [[2, 2], [8, 8, 8, 8]], dz_dy: [[], [8]] }],
  ['example 1: dz_dx', (t) => oneShot(t, 'x'), { g: [[2, 2], [8, 8, 8, 8]] }],
  ['example 2: dz_dy', (t) => oneShot(t, 'y'), { g: [[], [8]] }],
  ['example 3: persistent tape', persistent, { dz_dx: [[], [108]], dy_dx: [[], [6]] }],
  ['example 4: control flow', controlFlow, { g6: [[], [12]], g5: [[], [12]], g4: [[], [4]] }],
  ['example 5: higher-order gradients', higherOrder, { dy_dx: [[], [3]], d2y_dx2: [[], [6]] }],
];

// ----- transports -----

const TRANSPORTS = {
  nested: {
    tensor: (typed, shape) => toNested(typed, shape),
    send: (gt, request) => gt.run(request),
  },
  b64: {
    tensor: (typed, shape) => toB64(typed, shape),
    send: (gt, request) => gt.run({ ...request, options: { encoding: 'base64' } }),
  },
  msgpack: {
    tensor: (typed, shape) => toBytes(typed, shape),
    send: (gt, request) => gt.runMsgpack(request),
  },
};

function check(outputs, expected, label) {
  for (const [name, [shape, values]] of Object.entries(expected)) {
    const got = decode(outputs[name]);
    assert.ok(got !== null, `${label}: ${name} is null`);
    assert.deepEqual(got.shape, shape, `${label}: shape of ${name}`);
    assert.equal(got.dtype, 'float64', `${label}: dtype of ${name}`);
    assert.deepEqual(Array.from(got.data), values, `${label}: values of ${name}`);
  }
}

async function msgpackSupported(gt) {
  try {
    await gt.runMsgpack(sumSquare(TRANSPORTS.msgpack.tensor));
    return null;
  } catch (err) {
    if (err instanceof GradtapeError && [400, 406, 415].includes(err.status)) {
      return `${err.status} ${err.code ?? ''} ${err.detail ?? ''}`.trim();
    }
    throw err;
  }
}

async function checkErrors(gt) {
  // An unknown op is a 422 problem with a stable code and a pointer to the statement.
  const request = sumSquare(TRANSPORTS.nested.tensor);
  request.program[0].body[1] = { op: 'multiplyy', args: ['y', 'y'], out: 'z' };
  await assert.rejects(gt.run(request), (err) => {
    assert.ok(err instanceof GradtapeError, 'a GradtapeError');
    assert.equal(err.status, 422);
    assert.equal(err.code, 'unknown_op');
    assert.match(err.pointer, /^\/program\/0\/body\/1(\/op)?$/);
    return true;
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.GRADTAPE_URL ?? 'http://127.0.0.1:8000' },
      transport: { type: 'string', default: 'all' },
    },
  });
  const gt = new Gradtape(values.url, { apiKey: process.env.GRADTAPE_API_KEY });
  const wanted = values.transport === 'all' ? Object.keys(TRANSPORTS) : [values.transport];
  for (const name of wanted) {
    if (!(name in TRANSPORTS)) throw new Error(`unknown transport ${name}`);
  }
  let passed = 0;
  let skipped = 0;
  for (const name of wanted) {
    if (name === 'msgpack') {
      const reason = await msgpackSupported(gt);
      if (reason !== null) {
        console.log(`SKIP msgpack: the service refused a msgpack body (${reason})`);
        if (wanted.length === 1) process.exit(SKIP);
        skipped += EXAMPLES.length;
        continue;
      }
    }
    const transport = TRANSPORTS[name];
    for (const [label, build, expected] of EXAMPLES) {
      const response = await transport.send(gt, build(transport.tensor));
      check(response.outputs, expected, `${name}, ${label}`);
      console.log(`ok ${name}: ${label}`);
      passed += 1;
    }
  }
  await checkErrors(gt);
  console.log('ok errors: unknown op -> 422 unknown_op with a pointer');
  passed += 1;
  console.log(`${passed} passed, 0 failed${skipped ? `, ${skipped} skipped` : ''}`);
}

main().catch((err) => {
  console.error(err instanceof GradtapeError ? `${err.message}` : err);
  console.log('FAILED');
  process.exit(1);
});
