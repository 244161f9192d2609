"""pinn.batched_lbfgs: K independent problems minimised at once, each as if alone.

Oracles: quadratics with known minima, Rosenbrock's minimum (1, 1), and the
same members run alone (paths must match the batch's).
"""

import numpy as np
import pytest
import tensorflow as tf

from pinn.batched_lbfgs import (GRADIENT_STOP, LINE_SEARCH_FAILED, RUNNING, VALUE_UNCHANGED, BatchedLbfgs,
                                compact_direction, gather_members)

MEMBERS, SIZE = 6, 8


def quadratics(rows):
    """f_k(x) = 1e-8 + 1/2 sum_j a_kj (x_j - c_kj)^2 + b_k (x_0 - c_k0)(x_1 - c_k1): conditioning up to ~1e3, minimum c_k.

    The minimum value 1e-8 (not 0) lets rounding end the descent, as for a loss with a floor.
    """
    rng = np.random.default_rng(7)
    scales = np.exp(rng.uniform(0.0, np.log(1e3), size=(MEMBERS, SIZE)))
    centres = rng.normal(size=(MEMBERS, SIZE))
    a = tf.constant(scales[rows])
    c = tf.constant(centres[rows])
    b = tf.constant(0.5 * np.sqrt(scales[rows, 0] * scales[rows, 1]))

    def value_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            e = x - c
            value = 1e-8 + 0.5 * tf.reduce_sum(a * e * e, axis=1) + b * e[:, 0] * e[:, 1]
        return value, tape.gradient(value, x)

    return value_and_gradients, centres[rows]


def starts(rows, dtype=np.float64):
    return tf.constant(np.random.default_rng(3).normal(scale=3.0, size=(MEMBERS, SIZE))[rows], dtype=dtype)


def rosenbrock(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = (1.0 - x[:, 0]) ** 2 + 100.0 * (x[:, 1] - x[:, 0] ** 2) ** 2
    return value, tape.gradient(value, x)


ALL = np.arange(MEMBERS)


def two_loop(gradient, pairs):
    """The textbook two-loop recursion -H g for pairs (s, y), oldest first."""
    q, alphas = gradient.copy(), []
    for s, y in reversed(pairs):
        alphas.append(s @ q / (s @ y))
        q -= alphas[-1] * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        r += (alpha - y @ r / (s @ y)) * s
    return -r


def test_the_compact_direction_is_the_two_loop_direction():
    # member 0: a full ring whose oldest pair sits in slot 2; member 1: two pairs and three empty slots
    rng = np.random.default_rng(5)
    m, n = 5, 7
    s = rng.normal(size=(2, m, n))
    y = s + 0.3 * rng.normal(size=(2, m, n))
    age = np.array([[7, 8, 3, 4, 6], [-1, 2, -1, 1, -1]])
    g = rng.normal(size=(2, n))
    sy, yy = np.einsum("kin,kjn->kij", s, y), np.einsum("kin,kjn->kij", y, y)
    got = compact_direction(*(tf.constant(a) for a in (g, s, y, sy, yy)), tf.constant(age, tf.int32)).numpy()
    for k in range(2):
        order = [i for i in np.argsort(age[k]) if age[k, i] >= 0]
        np.testing.assert_allclose(got[k], two_loop(g[k], [(s[k, i], y[k, i]) for i in order]), rtol=1e-10)


@pytest.fixture(scope="module")
def quadratic_batch():
    function, centres = quadratics(ALL)
    return BatchedLbfgs(function, history=10).minimize(starts(ALL), max_iterations=200, chunk_size=20), centres


def test_each_quadratic_reaches_its_own_minimum(quadratic_batch):
    state, centres = quadratic_batch
    np.testing.assert_allclose(state.position.numpy(), centres, atol=1e-10)
    assert np.all(state.reason.numpy() != RUNNING)
    assert np.all(state.iterations.numpy() < 200)


def test_quadratics_take_fewer_than_two_evaluations_per_iteration(quadratic_batch):
    state, _ = quadratic_batch
    per_iteration = state.member_evaluations.numpy() / state.iterations.numpy()
    assert np.all(per_iteration < 2.0), per_iteration
    # the batch as a whole waits for its slowest line search, but not for long
    assert state.evaluations.numpy() < 2.0 * state.iterations.numpy().max()


def test_rosenbrock_members_reach_one_one():
    start = tf.constant([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-3.0, 4.0], [1.5, 2.5]], dtype=tf.float64)
    state = BatchedLbfgs(rosenbrock, history=10).minimize(start, max_iterations=500)
    np.testing.assert_allclose(state.position.numpy(), 1.0, atol=1e-7)
    assert np.all(state.reason.numpy() != RUNNING)


def test_a_member_follows_the_same_path_alone_as_in_the_batch(quadratic_batch):
    state, _ = quadratic_batch
    for k in (0, 3):
        function, _ = quadratics(np.array([k]))
        alone = BatchedLbfgs(function, history=10).minimize(starts(np.array([k])), max_iterations=200, chunk_size=20)
        assert alone.iterations.numpy()[0] == state.iterations.numpy()[k]
        assert alone.member_evaluations.numpy()[0] == state.member_evaluations.numpy()[k]
        np.testing.assert_allclose(alone.position.numpy()[0], state.position.numpy()[k], rtol=0, atol=1e-12)


def test_a_member_that_stops_early_leaves_the_others_alone():
    # member 1 starts at its minimum: its gradient is zero, so it stops at once
    function, centres = quadratics(ALL[:3])
    start = starts(ALL[:3]).numpy()
    start[1] = centres[1]
    state = BatchedLbfgs(function, history=10).minimize(tf.constant(start), max_iterations=200)
    assert state.reason.numpy()[1] == GRADIENT_STOP and state.iterations.numpy()[1] == 0
    np.testing.assert_array_equal(state.position.numpy()[1], centres[1])
    for k in (0, 2):
        single, _ = quadratics(np.array([k]))
        alone = BatchedLbfgs(single, history=10).minimize(tf.constant(start[[k]]), max_iterations=200)
        np.testing.assert_allclose(alone.position.numpy()[0], state.position.numpy()[k], rtol=0, atol=1e-12)


def test_a_member_without_a_lower_value_stops_on_its_line_search():
    # member 1's value is non-finite away from its start: no trial step is accepted
    def value_and_gradients(x):
        value, gradient = rosenbrock(x)
        moved = tf.reduce_any(tf.not_equal(x, 0.5), axis=1) & tf.constant([False, True])
        return tf.where(moved, tf.constant(np.nan, x.dtype), value), gradient

    state = BatchedLbfgs(value_and_gradients, history=10).minimize(tf.constant([[-1.2, 1.0], [0.5, 0.5]], tf.float64), 500)
    assert list(state.reason.numpy()) != [RUNNING, RUNNING]
    assert state.reason.numpy()[1] == LINE_SEARCH_FAILED and state.iterations.numpy()[1] == 0
    np.testing.assert_array_equal(state.position.numpy()[1], [0.5, 0.5])
    np.testing.assert_allclose(state.position.numpy()[0], 1.0, atol=1e-7)


def test_chunks_and_gathering_continue_the_members_unchanged(quadratic_batch):
    state, _ = quadratic_batch
    function, _ = quadratics(ALL)
    optimizer = BatchedLbfgs(function, history=10)
    part = optimizer.chunk(optimizer.start(starts(ALL)), 3)
    assert np.all(part.iterations.numpy() == 3)
    rows = np.array([1, 4])
    subset, _ = quadratics(rows)
    rest = BatchedLbfgs(subset, history=10).chunk(gather_members(part, rows), 200)
    np.testing.assert_array_equal(rest.iterations.numpy(), state.iterations.numpy()[rows])
    np.testing.assert_allclose(rest.position.numpy(), state.position.numpy()[rows], rtol=0, atol=1e-12)


def test_float32_works():
    function, centres = quadratics(ALL)

    def in_float32(x):
        value, gradient = function(tf.cast(x, tf.float64))
        return tf.cast(value, tf.float32), tf.cast(gradient, tf.float32)

    state = BatchedLbfgs(in_float32, history=10).minimize(starts(ALL, np.float32), max_iterations=200)
    assert state.position.dtype == tf.float32
    np.testing.assert_allclose(state.position.numpy(), centres, atol=1e-3)
    assert set(state.reason.numpy()) <= {VALUE_UNCHANGED, LINE_SEARCH_FAILED, GRADIENT_STOP}
