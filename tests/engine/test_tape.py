"""tf.GradientTape semantics, as small exact-value tests."""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
import weakref
from typing import Any

import numpy as np
import pytest

import engine as tf
from engine import NON_PERSISTENT_MESSAGE, Tape, TapeError, Tensor, Variable, ops


def test_gradient_of_intermediate_and_fan_out() -> None:
    x = tf.constant(2.0)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * x  # y used twice: fan-out accumulates
        z = y * y + y
    assert t.gradient(z, y).numpy() == 2 * 4.0 + 1
    assert t.gradient(z, x).numpy() == (2 * 4.0 + 1) * 4.0


def test_non_persistent_tape_answers_once_with_tensorflows_message() -> None:
    x = tf.constant(3.0)
    with Tape() as t:
        t.watch(x)
        y = x * x
    assert t.gradient(y, x).numpy() == 6.0
    with pytest.raises(RuntimeError, match="non-persistent GradientTape can only be used to") as e:
        t.gradient(y, x)
    assert isinstance(e.value, TapeError) and e.value.code == "tape_not_persistent"
    assert str(e.value) == NON_PERSISTENT_MESSAGE


def test_persistent_tape_answers_many_targets() -> None:
    x = tf.constant(3.0)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * y
    assert t.gradient(z, x).numpy() == 108.0
    assert t.gradient(y, x).numpy() == 6.0
    assert t.gradient([y, z], x).numpy() == 114.0  # several targets: the gradient of the sum


def test_non_scalar_target_is_seeded_with_ones_and_output_gradients_seed_it() -> None:
    x = tf.constant([1.0, 2.0, 3.0])
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * x
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), [2.0, 4.0, 6.0])
    seed = tf.constant([1.0, 0.0, 10.0])
    np.testing.assert_array_equal(t.gradient(y, x, output_gradients=seed).numpy(), [2, 0, 60])
    with pytest.raises(tf.OpError) as e:
        t.gradient(y, x, output_gradients=tf.constant([1.0, 2.0]))
    assert e.value.code == "shape_mismatch"


def test_sources_structure_is_kept() -> None:
    a, b = tf.constant(1.0), tf.constant(2.0)
    with Tape() as t:
        t.watch([a, b])
        y = a * b
    ga, gb = t.gradient(y, [a, b])
    assert (ga.numpy(), gb.numpy()) == (2.0, 1.0)


def test_unconnected_none_and_zero_with_reasons() -> None:
    x, n = tf.constant([1.0, 2.0]), tf.constant(5.0)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = ops.sum_(x * x)
    assert t.gradient(y, n) is None
    assert t.last_unconnected == [(0, "not_watched")]
    zero = t.gradient(y, [x, n], unconnected_gradients="zero")[1]
    assert zero.numpy() == 0.0 and zero.dtype == np.float64


def test_reason_watched_after_use() -> None:
    x = tf.constant(2.0)
    with Tape() as t:
        y = x * x
        t.watch(x)
    assert t.gradient(y, x) is None
    assert t.last_unconnected == [(0, "watched_after_use")]


def test_reason_no_path() -> None:
    x, w = tf.constant(2.0), tf.constant(3.0)
    with Tape() as t:
        t.watch([x, w])
        y = x * 2.0
        _ = w * 2.0
    assert t.gradient(y, w) is None
    assert t.last_unconnected == [(0, "no_path")]


def test_reason_stopped_by_stop_gradient() -> None:
    x = tf.constant(2.0)
    with Tape() as t:
        t.watch(x)
        y = ops.stop_gradient(x * x) * 3.0
    assert t.gradient(y, x) is None
    assert t.last_unconnected == [(0, "stopped")]


def test_reason_stopped_by_stop_recording() -> None:
    x = tf.constant(2.0)
    with Tape() as t:
        t.watch(x)
        with t.stop_recording():
            y = x * x
        z = y + 1.0
    assert t.gradient(z, x) is None
    assert t.last_unconnected == [(0, "stopped")]


def test_stop_recording_on_a_tape_not_recording_raises() -> None:
    t = Tape()
    with pytest.raises(TapeError) as e, t.stop_recording():
        pass
    assert e.value.code == "tape_not_recording"


def test_integers_are_never_differentiable() -> None:
    i = tf.constant([1, 2])
    x = tf.constant(1.5)
    with Tape(persistent=True) as t:
        t.watch([i, x])
        y = ops.sum_(i * x)
        k = ops.sum_(i * i)
    assert t.gradient(y, i) is None
    assert t.last_unconnected == [(0, "non_floating")]
    assert t.gradient(k, x) is None
    assert t.last_unconnected == [(0, "non_floating")]
    assert t.gradient(y, x).numpy() == 3.0


def test_cast_cuts_the_path_through_integers_and_keeps_float_dtypes() -> None:
    x = tf.constant([1.5, 2.5], dtype=np.float32)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = ops.sum_(ops.cast(x, dtype="float64") * 2.0)
        z = ops.sum_(ops.cast(ops.cast(x, dtype="int64"), dtype="float64"))
    g = t.gradient(y, x)
    assert g.dtype == np.float32 and g.numpy().tolist() == [2.0, 2.0]
    assert t.gradient(z, x) is None
    assert t.last_unconnected == [(0, "stopped")]


def test_gradient_has_source_dtype_and_broadcasting_is_undone() -> None:
    x = tf.constant([[1.0], [2.0]], dtype=np.float32)  # (2, 1) broadcast against (3,)
    b = tf.constant([1.0, 2.0, 3.0], dtype=np.float32)
    with Tape() as t:
        t.watch([x, b])
        y = ops.sum_(x * b)
    gx, gb = t.gradient(y, [x, b])
    assert gx.shape == (2, 1) and gx.dtype == np.float32
    np.testing.assert_array_equal(gx.numpy(), [[6.0], [6.0]])
    np.testing.assert_array_equal(gb.numpy(), [3.0, 3.0, 3.0])
    assert (x * 2.0).dtype == np.float32  # Python scalars are weak (NEP 50)


def test_variables_are_watched_when_read() -> None:
    v = Variable(2.0)
    frozen = Variable(3.0, trainable=False)
    with Tape(persistent=True) as t:
        y = v * frozen
    assert t.watched_variables() == (v,)
    assert t.gradient(y, v).numpy() == 3.0
    assert t.gradient(y, frozen) is None
    with Tape() as t2:
        t2.watch(frozen)
        y = v * frozen
    assert t2.gradient(y, frozen).numpy() == 2.0


def test_watch_accessed_variables_false() -> None:
    v = Variable(2.0)
    with Tape(watch_accessed_variables=False) as t:
        y = v * v
    assert t.watched_variables() == ()
    assert t.gradient(y, v) is None


def test_nested_tapes_second_and_third_order() -> None:
    x = Variable(1.5)
    with Tape() as t3, Tape() as t2:
        with Tape() as t1:
            y = x * x * x
        d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    assert d1.numpy() == pytest.approx(3 * 1.5**2)
    assert d2.numpy() == pytest.approx(6 * 1.5)
    assert d3.numpy() == pytest.approx(6.0)


def test_persistent_tape_differentiated_twice_from_inside_its_context() -> None:
    x = tf.constant(0.3)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = ops.tanh(x)
        dy = t.gradient(y, x)  # recorded on t itself
    d2 = t.gradient(dy, x)
    th = np.tanh(0.3)
    assert d2.numpy() == pytest.approx(-2 * th * (1 - th * th))


def test_non_persistent_gradient_inside_its_context_stops_recording() -> None:
    x = tf.constant(2.0)
    with Tape() as t:
        t.watch(x)
        y = x * x
        g = t.gradient(y, x)
        assert t.consumed_in_context and not t.recording
        _ = y * y  # not recorded any more
    assert g.numpy() == 4.0


def test_python_control_flow_is_recorded_as_it_runs() -> None:
    def f(x: Tensor, n: int) -> Tensor:
        out = tf.constant(1.0)
        for i in range(n):
            if 1 < i < 5:
                out = out * x
        return out

    for n, expected in [(6, 12.0), (5, 12.0), (4, 4.0)]:
        x = tf.constant(2.0)
        with Tape() as t:
            t.watch(x)
            y = f(x, n)
        assert t.gradient(y, x).numpy() == expected


def test_jacobian_and_batch_jacobian() -> None:
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * x
    j = t.jacobian(y, x)
    assert j.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for a in range(2):
        for b in range(2):
            expected[a, b, a, b] = 2 * x.numpy()[a, b]
    np.testing.assert_array_equal(j.numpy(), expected)
    bj = t.batch_jacobian(y, x)
    assert bj.shape == (2, 2, 2)
    np.testing.assert_array_equal(bj.numpy(), [[[2, 0], [0, 4]], [[6, 0], [0, 8]]])
    other = tf.constant([1.0, 2.0])
    assert t.jacobian(y, other) is None
    z = t.jacobian(y, other, unconnected_gradients="zero")
    assert z.shape == (2, 2, 2) and not z.numpy().any()


def test_jacobian_equals_stacked_gradients() -> None:
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=3))
    w = tf.constant(rng.normal(size=(4, 3)))
    with Tape(persistent=True) as t:
        t.watch(x)
        y = ops.tanh(ops.sum_(w * x, axis=1))
    j = t.jacobian(y, x).numpy()
    rows = [t.gradient(y, x, output_gradients=tf.constant(np.eye(4)[i])).numpy() for i in range(4)]
    np.testing.assert_allclose(j, np.stack(rows), rtol=1e-12)


def test_reset_clears_the_tape() -> None:
    x = tf.constant(2.0)
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * x
        t.reset()
        t.watch(x)
        z = x * 3.0
    assert t.gradient(y, x) is None
    assert t.gradient(z, x).numpy() == 3.0


def test_non_persistent_tape_drops_recorded_arrays_after_gradient() -> None:
    x = tf.constant(np.ones(1000))
    with Tape() as t:
        t.watch(x)
        y = ops.exp(x)
        z = ops.sum_(y)
    ref = weakref.ref(y)
    del y
    t.gradient(z, x)
    gc.collect()
    assert ref() is None and not t._nodes


def test_persistent_tape_drops_arrays_on_reset_and_when_dropped() -> None:
    x = tf.constant(np.ones(10))
    with Tape(persistent=True) as t:
        t.watch(x)
        y = ops.exp(x)
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is not None  # held by the tape
    t.reset()
    gc.collect()
    assert ref() is None
    with Tape(persistent=True) as t2:
        t2.watch(x)
        y2 = ops.exp(x)
    ref2 = weakref.ref(y2)
    del y2, t2
    gc.collect()
    assert ref2() is None


def test_a_thousand_step_loop_does_not_grow_memory() -> None:
    w = Variable(np.zeros(100))
    x = tf.constant(np.linspace(-1, 1, 100))

    def step() -> None:
        with Tape() as t:
            loss = ops.sum_(ops.square(ops.tanh(w * x) - 0.5))
        w.assign_sub(0.1 * t.gradient(loss, w).numpy())

    for _ in range(50):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 1000 steps"


@pytest.mark.parametrize("recorded", [False, True])
def test_dividing_by_an_integer_tensor_keeps_the_gradient(recorded: bool) -> None:
    x = tf.constant(3.0)
    two = tf.Tensor(np.array(2))  # an integer divisor: its reciprocal must not round to 0
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x / two
        if recorded:  # asked inside the context: the catalog-op VJP, recorded
            assert float(tape.gradient(y, x)) == 0.5
    assert float(tape.gradient(y, x)) == 0.5  # outside: the raw VJP


@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_gradients_of_empty_tensors_are_empty(shape: tuple[int, ...]) -> None:
    x = tf.constant(np.zeros(shape))
    for recorded in (False, True):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = ops.multiply(x, x) * 2.0 + ops.multiply(x, tf.constant(3.0))
            if recorded:
                g = tape.gradient(y, x)
        if not recorded:
            g = tape.gradient(y, x)
        assert g.shape == shape and g.dtype == np.float64


@pytest.mark.parametrize("axis", [0, -1])
def test_sum_of_a_scalar_over_axis_0_differentiates_at_every_order(axis: int) -> None:
    x = tf.constant(2.0)  # NumPy takes axis 0 (or -1) of a rank-0 array as the array itself
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = ops.sum_(x, axis=axis) * x
        dy = inner.gradient(y, x)  # recorded: the catalog-op VJP
    assert float(dy) == 4.0 and float(outer.gradient(dy, x)) == 2.0


# ----- a gradient visits only the entries through which it reaches a source -----
def _branching(t: Tape) -> dict[str, Tensor]:
    """x and w watched; intermediates with fan-out, a multi-output op and a late constant."""
    x = tf.constant([0.3, -1.2, 0.8, 2.0])
    w = tf.constant(1.5)
    t.watch([x, w])
    a = tf.sin(x)
    b = a * w
    p, q = tf.split(b, indices_or_sections=2)
    c = tf.exp(p) * q + tf.reduce_sum(a)
    k = tf.constant(3.0)  # never watched: unconnected, whatever the pass
    d = tf.reduce_sum(c * c) + tf.reduce_sum(b)
    return {"x": x, "w": w, "a": a, "b": b, "p": p, "q": q, "c": c, "k": k, "d": d}


SOURCE_SETS = [
    ["a"],
    ["b"],
    ["p"],
    ["q"],
    ["c"],
    ["p", "q"],
    ["c", "a"],
    ["b", "x"],
    ["w", "c"],
    ["k"],
    ["k", "q"],
    ["d"],
    ["d", "p"],
    ["x"],
    ["w"],
    ["x", "w"],
]


@pytest.mark.parametrize("recorded", [False, True], ids=["raw", "recorded"])
@pytest.mark.parametrize("names", SOURCE_SETS, ids=lambda n: "+".join(n))
def test_a_gradient_by_some_sources_answers_as_the_whole_pass_does(
    names: list[str], recorded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answers(zero: str) -> tuple[list[np.ndarray | None], list[tuple[int, str]]]:
        with Tape(persistent=True) as t:
            v = _branching(t)
        with Tape() if recorded else contextlib.nullcontext():  # an open tape records the pass
            got = t.gradient(v["d"], [v[n] for n in names], unconnected_gradients=zero)
        return [None if g is None else g.numpy() for g in got], t.last_unconnected

    for zero in ("none", "zero"):
        pruned = answers(zero)
        with monkeypatch.context() as m:
            m.setattr(Tape, "_reach", lambda self, sources, nodes: None)
            whole = answers(zero)
        assert pruned[1] == whole[1]
        for g, h in zip(pruned[0], whole[0], strict=True):
            assert (g is None) == (h is None)
            if g is not None:
                np.testing.assert_array_equal(g, h)


def test_a_gradient_visits_only_the_entries_that_reach_a_source() -> None:
    from engine.limits import BUDGET, Budget, Limits

    x, v = tf.constant(0.5), tf.constant(-2.0)
    with Tape(persistent=True) as t:
        t.watch([x, v])
        h = x
        for _ in range(10):
            h = tf.sin(h)
        y = h * 2.0
        z = y * v
        out = z * z
    budget = Budget(Limits())
    token = BUDGET.set(budget)
    try:
        assert t.gradient(out, y).numpy() == pytest.approx(2 * z.numpy() * v.numpy())
        assert budget.ops == 2  # z = y * v and out = z * z: the sines made y, they cannot use it
        assert t.gradient(out, v).numpy() == pytest.approx(2 * z.numpy() * y.numpy())
        assert budget.ops == 2 + 2  # x is watched but not asked for: its ten sines are left out
        t.gradient(out, [x, v])
        assert budget.ops == 2 + 2 + 13  # every entry
        k = tf.constant(3.0)
        with Tape(persistent=True) as t2:
            t2.watch(x)
            w = tf.sin(x) * k
            u = w * w
        before = budget.ops
        assert t2.gradient(u, k) is None
        assert budget.ops == before  # k is read on the tape but never tracked: no entry
    finally:
        BUDGET.reset(token)


def test_second_order_through_a_gradient_by_an_intermediate() -> None:
    x = tf.constant(0.7)
    with Tape() as outer:
        outer.watch(x)
        with Tape(persistent=True) as inner:
            inner.watch(x)
            y = tf.sin(x)
            z = y * y * x
        dz_dy = inner.gradient(z, y)  # 2 y x: recorded by the outer tape
    expected = 2 * np.cos(0.7) * 0.7 + 2 * np.sin(0.7)  # d/dx (2 sin(x) x)
    assert outer.gradient(dz_dy, x).numpy() == pytest.approx(expected)


def test_a_jacobian_by_an_intermediate() -> None:
    x = tf.constant([1.0, 2.0])
    with Tape(persistent=True) as t:
        t.watch(x)
        y = x * 3.0
        z = y * y
    np.testing.assert_allclose(t.jacobian(z, y).numpy(), np.diag(2 * y.numpy()))
    np.testing.assert_allclose(t.jacobian(z, x).numpy(), np.diag(18 * x.numpy()))


@pytest.mark.parametrize("recorded", [False, True], ids=["raw", "recorded"])
def test_a_jacobian_works_out_its_entries_once(
    recorded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = tf.constant([1.0, 2.0, 3.0])
    with Tape(persistent=True) as t:
        t.watch(x)
        y = tf.sin(x) * 2.0
        z = y * y
    scans = []
    reach = Tape._reach

    def counted(self: Tape, sources: list[Any], nodes: list[Any]) -> Any:
        scans.append(len(nodes))
        return reach(self, sources, nodes)

    monkeypatch.setattr(Tape, "_reach", counted)
    with Tape() if recorded else contextlib.nullcontext():  # an open tape records the rows
        jac = t.jacobian(z, y)
    assert scans == [3]  # one scan of the tape's three entries, not one per row
    np.testing.assert_allclose(jac.numpy(), np.diag(2 * y.numpy()))


def test_every_op_and_alias_is_an_engine_name() -> None:
    """`engine.NAME` is the op for every catalog name and TensorFlow alias (`tf.reduce_sum`),
    bound by name in engine/__init__.py; `ones` and `zeros` take TensorFlow's signature."""
    import engine
    from engine.registry import ALIASES, OPS

    for name in [*OPS, *ALIASES]:
        if name in ("ones", "zeros"):
            continue
        assert getattr(engine, name, None) is OPS[ALIASES.get(name, name)], name
    assert engine.ones((2, 3)).shape == (2, 3) and engine.zeros(()).shape == ()
