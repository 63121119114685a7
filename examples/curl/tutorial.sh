#!/usr/bin/env bash
# TensorFlow's GradientTape tutorial, run on a gradtape service with curl; python3 checks the
# numbers. Exit status 0 when every check passes, 1 on the first mismatch or failed request.
#
#   GRADTAPE_URL=http://127.0.0.1:8000 bash examples/curl/tutorial.sh
#
# GRADTAPE_API_KEY, when set, is sent as a bearer token.
set -euo pipefail

URL="${GRADTAPE_URL:-http://127.0.0.1:8000}"
PYTHON="${PYTHON:-python3}"
AUTH=()
if [[ -n "${GRADTAPE_API_KEY:-}" ]]; then
  AUTH=(-H "Authorization: Bearer ${GRADTAPE_API_KEY}")
fi

# `curl --json` arrived in curl 7.82; older curls get the same headers spelled out.
if [[ "$(curl --help all 2>/dev/null)" == *--json* ]]; then
  JSON=(--json @-)
else
  JSON=(-H 'Content-Type: application/json' -H 'Accept: application/json' --data-binary @-)
fi

passed=0

# post BODY: POST BODY to /v1/run and print the response body (status code on the last line).
post() {
  curl -sS "${AUTH[@]}" "${JSON[@]}" -w '\n%{http_code}' "$URL/v1/run" <<<"$1"
}

# expect NAME RESPONSE CHECK: run the python expression CHECK with `out` bound to the outputs'
# `data` (plain lists and floats, no NumPy), `res` to the whole response, and `decode_b64` to a
# function that reads a base64 float64 output as a list.
expect() {
  local name="$1" response="$2" check="$3"
  if "$PYTHON" - "$check" "$response" <<'PY'
import base64
import json
import struct
import sys


def decode_b64(tensor):
    raw = base64.b64decode(tensor["b64"])
    assert tensor["dtype"] == "float64", tensor["dtype"]
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


check, text = sys.argv[1], sys.argv[2]
body, _, status = text.rpartition("\n")
if status != "200":
    sys.exit(f"HTTP {status}: {body}")
res = json.loads(body)
out = {k: (v if v is None else v.get("data")) for k, v in res.get("outputs", {}).items()}
if not eval(check, {"out": out, "res": res, "decode_b64": decode_b64}):
    sys.exit(f"check failed: {check}\noutputs: {json.dumps(res.get('outputs'))}")
PY
  then
    echo "ok $name"
    passed=$((passed + 1))
  else
    echo "FAILED $name" >&2
    exit 1
  fi
}

# Section 8 of the contract: one persistent tape, two gradients.
expect "section 8: dz_dx and dz_dy" "$(post '{
  "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
  "program": [
    {"tape": "t", "persistent": true, "watch": ["x"], "body": [
      {"op": "reduce_sum", "args": ["x"], "out": "y"},
      {"op": "multiply", "args": ["y", "y"], "out": "z"}
    ]},
    {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
    {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"}
  ],
  "outputs": ["dz_dx", "dz_dy"]
}')" 'out["dz_dx"] == [[8.0, 8.0], [8.0, 8.0]] and out["dz_dy"] == 8.0'

# Example 1: x = ones((2, 2)); y = reduce_sum(x); z = y * y; dz/dx.
expect "example 1: dz_dx" "$(post '{
  "inputs": {"x": {"data": [1, 1, 1, 1], "dtype": "float64", "shape": [2, 2]}},
  "program": [
    {"tape": "t", "watch": ["x"], "body": [
      {"op": "reduce_sum", "args": ["x"], "out": "y"},
      {"op": "multiply", "args": ["y", "y"], "out": "z"}
    ]},
    {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"}
  ],
  "outputs": ["dz_dx"]
}')" 'out["dz_dx"] == [[8.0, 8.0], [8.0, 8.0]] and res["outputs"]["dz_dx"]["shape"] == [2, 2]'

# Example 2: the gradient with respect to the intermediate y.
expect "example 2: dz_dy" "$(post '{
  "inputs": {"x": {"data": [[1.0, 1.0], [1.0, 1.0]]}},
  "program": [
    {"tape": "t", "watch": ["x"], "body": [
      {"op": "reduce_sum", "args": ["x"], "out": "y"},
      {"op": "multiply", "args": ["y", "y"], "out": "z"}
    ]},
    {"gradient": "t", "target": "z", "sources": "y", "out": "dz_dy"}
  ],
  "outputs": ["dz_dy"]
}')" 'out["dz_dy"] == 8.0'

# Example 3: a persistent tape answers two gradients (4 x^3 = 108 and 2 x = 6 at x = 3).
expect "example 3: persistent tape" "$(post '{
  "inputs": {"x": 3.0},
  "program": [
    {"tape": "t", "persistent": true, "watch": ["x"], "body": [
      {"op": "multiply", "args": ["x", "x"], "out": "y"},
      {"op": "multiply", "args": ["y", "y"], "out": "z"}
    ]},
    {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"},
    {"gradient": "t", "target": "y", "sources": "x", "out": "dy_dx"}
  ],
  "outputs": ["dz_dx", "dy_dx"]
}')" 'out["dz_dx"] == 108.0 and out["dy_dx"] == 6.0'

# Example 4: Python control flow, recorded as it runs: grad(2, 6) = grad(2, 5) = 12, grad(2, 4) = 4.
expect "example 4: control flow" "$(post '{
  "inputs": {"x": 2.0},
  "program": [
    {"def": "f", "params": ["x", "y"], "body": [
      {"op": "identity", "args": [{"data": 1.0, "dtype": "float64"}], "out": "output"},
      {"for": "i", "range": "y", "body": [
        {"op": "greater", "args": ["i", 1], "out": "above"},
        {"op": "less", "args": ["i", 5], "out": "below"},
        {"op": "logical_and", "args": ["above", "below"], "out": "inside"},
        {"if": "inside", "then": [{"op": "multiply", "args": ["output", "x"], "out": "output"}]}
      ]},
      {"return": "output"}
    ]},
    {"def": "grad", "params": ["x", "y"], "body": [
      {"tape": "t", "watch": ["x"], "body": [{"call": "f", "args": ["x", "y"], "out": "out"}]},
      {"gradient": "t", "target": "out", "sources": "x", "out": "g"},
      {"return": "g"}
    ]},
    {"call": "grad", "args": ["x", 6], "out": "g6"},
    {"call": "grad", "args": ["x", 5], "out": "g5"},
    {"call": "grad", "args": ["x", 4], "out": "g4"}
  ],
  "outputs": ["g6", "g5", "g4"]
}')" 'out["g6"] == 12.0 and out["g5"] == 12.0 and out["g4"] == 4.0'

# Example 5: higher-order gradients from nested tapes on a variable (3 x^2 = 3, 6 x = 6 at 1).
expect "example 5: higher order" "$(post '{
  "inputs": {"x": {"data": 1.0, "variable": true}},
  "program": [
    {"tape": "t", "body": [
      {"tape": "t2", "body": [
        {"op": "multiply", "args": ["x", "x"], "out": "xx"},
        {"op": "multiply", "args": ["xx", "x"], "out": "y"}
      ]},
      {"gradient": "t2", "target": "y", "sources": "x", "out": "dy_dx"}
    ]},
    {"gradient": "t", "target": "dy_dx", "sources": "x", "out": "d2y_dx2"}
  ],
  "outputs": ["dy_dx", "d2y_dx2"]
}')" 'out["dy_dx"] == 3.0 and out["d2y_dx2"] == 6.0'

# Base64 transport: the same first example, with tensors as little-endian float64 bytes.
ones_b64="$("$PYTHON" -c '
import base64, struct
print(base64.b64encode(struct.pack("<4d", 1, 1, 1, 1)).decode())')"
expect "base64: dz_dx" "$(post '{
  "inputs": {"x": {"b64": "'"$ones_b64"'", "dtype": "float64", "shape": [2, 2]}},
  "program": [
    {"tape": "t", "watch": ["x"], "body": [
      {"op": "reduce_sum", "args": ["x"], "out": "y"},
      {"op": "multiply", "args": ["y", "y"], "out": "z"}
    ]},
    {"gradient": "t", "target": "z", "sources": "x", "out": "dz_dx"}
  ],
  "outputs": ["dz_dx"],
  "options": {"encoding": "base64"}
}')" 'decode_b64(res["outputs"]["dz_dx"]) == [8.0, 8.0, 8.0, 8.0]'

# Errors are problem+json with a stable code and a JSON pointer to the statement at fault.
response="$(post '{"program": [{"op": "multiplyy", "args": [1.0, 2.0], "out": "z"}]}')"
"$PYTHON" - "$response" <<'PY' || { echo "FAILED errors: unknown op" >&2; exit 1; }
import json
import sys

body, _, status = sys.argv[1].rpartition("\n")
problem = json.loads(body)
assert status == "422", status
assert problem["code"] == "unknown_op", problem
assert problem["pointer"] in ("/program/0", "/program/0/op"), problem
PY
echo "ok errors: unknown op -> 422 unknown_op with a pointer"
passed=$((passed + 1))

echo "$passed passed, 0 failed"
