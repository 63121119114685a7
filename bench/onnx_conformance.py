"""ONNX's own node test cases through gradtape: one table row per supported op.

`onnx.backend.test.case.node.collect_testcases()` builds, in memory, every node test case the
installed onnx package ships: a one-node model, its inputs and its expected outputs. Each case of
an op gradtape maps is loaded as a function (engine.onnx_import) and applied; a case passes when
every output matches to the case's tolerance (rtol 1e-3, atol 1e-7, as ONNX's backend tests), is
refused when loading says why (a clear 422-class error: an attribute or form the service does
not take), and fails otherwise.

    python bench/onnx_conformance.py            # the table (markdown)
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import EngineError, Limits
from engine.onnx_import import ONNX_OPS, load_onnx

RTOL, ATOL = 1e-3, 1e-7


@dataclass
class Row:
    passed: int = 0
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: list[str] = field(default_factory=list)

    @property
    def run(self) -> int:
        return self.passed + sum(self.refused.values()) + len(self.failed)


def run_cases() -> dict[str, Row]:
    from onnx.backend.test.case.node import collect_testcases

    rows: dict[str, Row] = defaultdict(Row)
    for case in collect_testcases():
        ops = {n.op_type for n in case.model.graph.node}
        if len(ops) != 1 or not ops <= set(ONNX_OPS):
            continue
        (op,) = ops
        for inputs, expected in case.data_sets or []:
            rows[op].__class__  # noqa: B018 (makes the row)
            outcome = _one(case, inputs, expected)
            if outcome is None:
                rows[op].passed += 1
            elif outcome.startswith("refused: "):
                rows[op].refused[outcome.removeprefix("refused: ")] += 1
            else:
                rows[op].failed.append(f"{case.name}: {outcome}")
    return dict(sorted(rows.items()))


def _one(case, inputs, expected) -> str | None:
    limits = Limits()
    try:
        function = load_onnx(case.name, case.model.SerializeToString(), source="api", limits=limits)
    except EngineError as err:
        return f"refused: {err.code}: {_short(err.message)}"
    names = [p.name for p in function.inputs if p.default is None]
    try:
        answer = function.apply(dict(zip(names, inputs, strict=False)), limits=limits)
    except EngineError as err:
        return f"refused: {err.code}: {_short(err.message)}"
    for port, want in zip(function.outputs, expected, strict=False):
        got = answer.outputs[port.name]
        want = np.asarray(want)
        if got.shape != want.shape:
            return f"shape {got.shape} != {want.shape}"
        if want.dtype.kind in "fc":
            if not np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True):
                return f"max error {np.nanmax(np.abs(got - want)):.3g}"
        elif not np.array_equal(got, want):
            return "values differ"
    return None


def _short(text: str) -> str:
    text = text.split(": ", 1)[-1] if "node " in text else text
    return text[:90]


def table(rows: dict[str, Row]) -> str:
    lines = ["| op | passed / run | refused (why) |", "|---|---|---|"]
    for op, row in rows.items():
        why = "; ".join(f"{n}x {reason}" for reason, n in sorted(row.refused.items()))
        failed = f" **{len(row.failed)} failed**" if row.failed else ""
        lines.append(f"| {op} | {row.passed} / {row.run}{failed} | {why} |")
    missing = sorted(set(ONNX_OPS) - set(rows))
    if missing:
        lines.append(f"\nMapped ops without a node case in this onnx version: {', '.join(missing)}")
    return "\n".join(lines)


if __name__ == "__main__":
    results = run_cases()
    print(table(results))
    for row in results.values():
        for failure in row.failed:
            print("FAILED", failure)
