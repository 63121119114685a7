// Train a linear regression on a gradtape service from Node, in one request (no dependencies).
//
//   node examples/js/train.mjs [--url URL] [--steps N]
//
// The URL defaults to $GRADTAPE_URL, then http://127.0.0.1:8000; $GRADTAPE_API_KEY is sent as a
// bearer token when set. The data are made here (y = X w + b + small noise, seeded), the loop
// runs on the server (POST /v1/minimize, docs/wire-format.md section 10), and the fitted weights are checked
// against the truth. Exit status 0 when they match, 1 otherwise.

import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';

import { Gradtape, toNested } from './gradtape.mjs';

const TRUE_W = [1.5, -2.0, 0.5];
const TRUE_B = 0.7;
const N = 200;

/** A small seeded generator (mulberry32), so every run sends the same data. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function dataset() {
  const next = random(42);
  const X = new Float64Array(N * TRUE_W.length);
  const y = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let target = TRUE_B;
    for (let j = 0; j < TRUE_W.length; j++) {
      const x = 2 * next() - 1;
      X[i * TRUE_W.length + j] = x;
      target += TRUE_W[j] * x;
    }
    y[i] = target + 0.01 * (next() - 0.5);
  }
  return { X, y };
}

function request(steps) {
  const { X, y } = dataset();
  const k = TRUE_W.length;
  // Objects with an explicit dtype: JSON.stringify(0.0) is "0", which would be an int64.
  return {
    inputs: {
      X: toNested(X, [N, k]),
      y: toNested(y, [N]),
      w: { ...toNested(new Float64Array(k), [k]), variable: true },
      b: { data: 0, dtype: 'float64', variable: true },
    },
    program: [
      { op: 'matmul', args: ['X', 'w'], out: 'xw' },
      { op: 'add', args: ['xw', 'b'], out: 'pred' },
      { op: 'squared_difference', args: ['pred', 'y'], out: 'se' },
      { op: 'mean', args: ['se'], out: 'loss' },
    ],
    loss: 'loss',
    optimizer: { name: 'adam', learning_rate: 0.05 },
    steps,
    stop: { grad_norm: 1e-6 },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.GRADTAPE_URL ?? 'http://127.0.0.1:8000' },
      steps: { type: 'string', default: '2000' },
    },
  });
  const gt = new Gradtape(values.url, { apiKey: process.env.GRADTAPE_API_KEY });
  const body = JSON.stringify(request(Number(values.steps)));
  const res = await gt.send('POST', '/v1/minimize', body, 'application/json', 'application/json');

  const history = res.loss_history;
  const w = res.variables.w.data;
  const b = res.variables.b.data;
  console.log(`steps: ${res.steps} (stopped: ${res.stopped})`);
  console.log(`loss: ${history[0].toPrecision(6)} -> ${history.at(-1).toPrecision(6)}`);
  console.log(`w: [${w.map((v) => v.toFixed(4)).join(', ')}]  (true [${TRUE_W.join(', ')}])`);
  console.log(`b: ${b.toFixed(4)}  (true ${TRUE_B})`);

  assert.ok(history.at(-1) < 1e-4 && history.at(-1) < history[0], 'the loss went down');
  TRUE_W.forEach((truth, j) => assert.ok(Math.abs(w[j] - truth) < 1e-2, `w[${j}] = ${w[j]}`));
  assert.ok(Math.abs(b - TRUE_B) < 1e-2, `b = ${b}`);
  console.log('fit ok');
}

main().catch((err) => {
  console.error(err.message ?? err);
  process.exit(1);
});
