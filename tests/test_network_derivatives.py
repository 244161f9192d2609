"""pinn.derivatives on plain Keras models: the seed's relu script, smooth models
against closed forms and finite differences, shapes, dtypes, warnings.

The seed question: a Keras net Dense(128, relu)-Dense(64, relu)-Dense(32, relu)-
Dense(1) fitted to y = x^2 at x = 1..14 has a second derivative of exactly 0
under nested GradientTapes.  pinn.derivatives gives the same numbers (the
derivatives are right; the network is piecewise linear) and says so.

Tolerances, by where the numbers come from:
  * closed forms in float64: 1e-12 relative (a few roundings of O(1) terms;
    w^k with |w| <= 1.5 and k <= 4 keeps the values O(10));
  * closed forms in float32: 2e-5 relative + 2e-5 absolute (float32 epsilon
    1.2e-7 times the growth of rounding through 4 nested tapes);
  * finite differences (float64): each order against a central difference of
    the order below with h = 1e-4; truncation h^2/6 |f^(k+2)| ~ 1e-9 and
    rounding eps/h ~ 1e-12 for O(1) derivatives of a small tanh net, so 1e-6
    relative + 1e-7 absolute leaves a wide margin while still catching any
    wrong factor or missing term.
"""

import math
import warnings

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import pinn  # noqa: E402
from pinn.network_derivatives import PiecewiseLinearWarning  # noqa: E402

from conftest import TINY  # noqa: E402

X_SEED = np.arange(1, 15, dtype="float32").reshape(-1, 1)  # x = 1..14
Y_SEED = X_SEED**2
F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=2e-5, atol=2e-5)


# ------------------------------------------------------------ the seed's own script (relu)


@pytest.fixture(scope="module")
def relu_model():
    """The seed's network, fitted briefly (300 Adam steps in one epoch: fit's per-epoch overhead dominates otherwise)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(1,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(np.tile(X_SEED, (300, 1)), np.tile(Y_SEED, (300, 1)), batch_size=14, epochs=1, shuffle=False, verbose=0)
    return model


def _by_hand(model, x):
    """The seed's nested GradientTapes, eagerly: (y, y', y'')."""
    x = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = model(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    return y.numpy(), dy.numpy(), (np.zeros_like(dy) if d2y is None else d2y.numpy())


def test_seed_script_warns_naming_the_relu_layers_and_gives_zero_second_derivative(relu_model):
    with pytest.warns(PiecewiseLinearWarning, match="piecewise linear in its input") as record:
        y, dy, d2y = pinn.derivatives(relu_model, X_SEED, 2)
    message = str(record[0].message)
    relu_layers = [layer.name for layer in relu_model.layers[:3]]
    for name in relu_layers:
        assert f"{name} (relu)" in message
    assert relu_model.layers[3].name not in message  # the linear output layer is not blamed
    assert record[0].filename == __file__  # the warning points at the caller's line

    assert y.shape == dy.shape == d2y.shape == (14, 1)
    assert np.all(d2y == 0.0)  # exactly zero: the network, not the differentiation

    hand_y, hand_dy, hand_d2y = _by_hand(relu_model, X_SEED)
    assert np.all(hand_d2y == 0.0)  # the seed's observation, reproduced
    # compiled (tf.function) vs eager: the same float32 operations, so equal up to a rounding or two
    np.testing.assert_allclose(dy, hand_dy, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y, hand_y, rtol=1e-6, atol=1e-5)
    # the staircase: y' takes few distinct values over 14 points, and is far from 2x somewhere
    assert np.max(np.abs(dy[:, 0] - 2 * X_SEED[:, 0])) > 1.0


def test_relu_values_alone_do_not_warn(relu_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (y,) = pinn.derivatives(relu_model, X_SEED, 0)
    np.testing.assert_allclose(y, relu_model(X_SEED).numpy(), rtol=1e-6, atol=1e-5)


# ------------------------------------------------------------ smooth models with known closed forms


def _tanh_derivatives(t):
    """tanh^(k)(u) for k = 0..4 in terms of t = tanh(u)."""
    s = 1 - t**2
    return [t, s, -2 * t * s, s * (6 * t**2 - 2), 8 * t * s * (2 - 3 * t**2)]


def _sigmoid(u):
    return 1 / (1 + np.exp(-u))


def _softplus_derivatives(u):
    """softplus^(k)(u), k = 0..4: log(1 + e^u), then sigma and its derivatives."""
    g = _sigmoid(u)
    return [np.log1p(np.exp(u)), g, g * (1 - g), g * (1 - g) * (1 - 2 * g), g * (1 - g) * (1 - 6 * g + 6 * g**2)]


def _affine(model_layers, dtype, weights):
    model = keras.Sequential([keras.Input(shape=(1,), dtype=dtype), *model_layers])
    for layer, values in zip([l for l in model.layers if l.weights], weights):
        layer.set_weights([np.asarray(v, dtype=dtype) for v in values])
    return model


A, W, B, C = 1.3, 1.5, -0.4, 0.25  # model = A * act(W x + B) + C
XS = np.linspace(-2.0, 2.0, 17)


def _closed(kind, x):
    u = W * x + B
    if kind == "tanh":
        base = _tanh_derivatives(np.tanh(u))
    elif kind == "sin":
        base = [np.sin(u + k * math.pi / 2) for k in range(5)]
    elif kind == "softplus":
        base = _softplus_derivatives(u)
    else:
        raise AssertionError(kind)
    return [A * base[0] + C] + [A * W**k * base[k] for k in range(1, 5)]


def _smooth_model(kind, dtype):
    """A * act(W x + B) + C as a Keras model: act as a Dense activation, or (sin) as a Lambda layer."""
    if kind == "sin-lambda":
        layers = [keras.layers.Dense(1, dtype=dtype), keras.layers.Lambda(tf.sin, dtype=dtype), keras.layers.Dense(1, dtype=dtype)]
    else:
        activation = tf.sin if kind == "sin" else kind
        layers = [keras.layers.Dense(1, activation=activation, dtype=dtype), keras.layers.Dense(1, dtype=dtype)]
    return _affine(layers, dtype, [([[W]], [B]), ([[A]], [C])])


@pytest.mark.parametrize("dtype, tolerance", [("float64", F64), ("float32", F32)])
@pytest.mark.parametrize("kind", ["tanh", "sin", "sin-lambda", "softplus"])
def test_smooth_models_match_closed_forms_to_order_4(kind, dtype, tolerance):
    model = _smooth_model(kind, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # smooth: no warning at all
        got = pinn.derivatives(model, XS, 4)
    expected = _closed(kind.split("-")[0], XS)
    assert len(got) == 5
    for k in range(5):
        assert got[k].shape == (len(XS), 1)
        assert got[k].dtype == np.dtype(dtype)
        np.testing.assert_allclose(got[k][:, 0], expected[k], err_msg=f"order {k}", **tolerance)


def test_multi_output_model_each_column_its_own_closed_form():
    w, b = np.array([0.5, -1.2, 1.5]), np.array([0.1, 0.3, -0.7])
    model = _affine([keras.layers.Dense(3, activation="tanh", dtype="float64")], "float64", [([w], b)])
    got = pinn.derivatives(model, XS, 4)
    for k in range(5):
        assert got[k].shape == (len(XS), 3)
        for i in range(3):
            expected = w[i] ** k * _tanh_derivatives(np.tanh(w[i] * XS + b[i]))[k]
            np.testing.assert_allclose(got[k][:, i], expected, err_msg=f"order {k}, column {i}", **F64)


# ------------------------------------------------------------ a random smooth model against finite differences


@pytest.fixture(scope="module")
def random_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input(shape=(1,), dtype="float64"),
        keras.layers.Dense(16, activation="tanh", dtype="float64"),
        keras.layers.Dense(16, activation="softplus", dtype="float64"),
        keras.layers.Dense(2, dtype="float64"),
    ])


def test_random_model_matches_central_differences(random_model):
    x = np.linspace(-1.5, 1.5, 13)
    h = 1e-4
    at = pinn.derivatives(random_model, x, 4)
    plus = pinn.derivatives(random_model, x + h, 3)
    minus = pinn.derivatives(random_model, x - h, 3)
    assert np.ptp(at[2]) > 1e-3 and np.ptp(at[4]) > 1e-3  # a curved model, so the check has teeth
    for k in range(1, 5):
        difference = (plus[k - 1] - minus[k - 1]) / (2 * h)
        np.testing.assert_allclose(at[k], difference, rtol=1e-6, atol=1e-7, err_msg=f"order {k}")


# ------------------------------------------------------------ points and shapes


def test_point_shapes_and_batches_agree(random_model):
    x = np.linspace(-1.0, 1.0, 9)
    flat = pinn.derivatives(random_model, x, 2)
    column = pinn.derivatives(random_model, x.reshape(-1, 1), 2)
    as_list = pinn.derivatives(random_model, x.tolist(), 2)
    for k in range(3):
        assert flat[k].shape == column[k].shape == as_list[k].shape == (9, 2)
        np.testing.assert_array_equal(flat[k], column[k])
        np.testing.assert_array_equal(flat[k], as_list[k])
    # one point at a time gives the same as the batch (rows are independent), and so do other batch sizes
    for i in (0, 4, 8):
        single = pinn.derivatives(random_model, [x[i]], 2)
        scalar = pinn.derivatives(random_model, x[i], 2)
        for k in range(3):
            assert single[k].shape == scalar[k].shape == (1, 2)
            np.testing.assert_allclose(single[k][0], flat[k][i], rtol=1e-13, atol=1e-14)
            np.testing.assert_array_equal(single[k], scalar[k])
    many = np.linspace(-1.0, 1.0, 1001)
    big = pinn.derivatives(random_model, many, 2)
    np.testing.assert_allclose(big[2][::125], flat[2], rtol=1e-13, atol=1e-14)


def test_flat_output_model_gives_flat_arrays():
    model = _affine([keras.layers.Dense(1, activation="tanh", dtype="float64"), keras.layers.Lambda(lambda v: v[:, 0], dtype="float64")],
                    "float64", [([[W]], [B])])
    got = pinn.derivatives(model, XS.reshape(-1, 1), 2)
    assert [g.shape for g in got] == [(len(XS),)] * 3
    np.testing.assert_allclose(got[2], W**2 * _tanh_derivatives(np.tanh(W * XS + B))[2], **F64)


@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 1)])
def test_points_that_are_not_scalars_are_refused(random_model, shape):
    with pytest.raises(ValueError, match=r"shape \[N\] or \[N, 1\]"):
        pinn.derivatives(random_model, np.zeros(shape), 1)


# ------------------------------------------------------------ float64 Keras models


def test_float64_by_keras_global_setting():
    """keras.backend.set_floatx alone does not change layers in Keras 3 once a policy exists; set the policy too."""
    floatx, policy = keras.backend.floatx(), keras.config.dtype_policy()
    try:
        keras.backend.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1, activation="tanh"), keras.layers.Dense(1)])
        for layer, values in zip(model.layers, [([[W]], [B]), ([[A]], [C])]):
            layer.set_weights([np.asarray(v) for v in values])
    finally:
        keras.backend.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    got = pinn.derivatives(model, XS, 4)
    expected = _closed("tanh", XS)
    for k in range(5):
        assert got[k].dtype == np.float64
        np.testing.assert_allclose(got[k][:, 0], expected[k], err_msg=f"order {k}", **F64)


def test_float64_layers_built_by_a_call():
    """No Input layer: the model is built by its first call on float64 data."""
    model = keras.Sequential([keras.layers.Dense(1, activation="tanh", dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    model(np.zeros((1, 1)))
    for layer, values in zip(model.layers, [([[W]], [B]), ([[A]], [C])]):
        layer.set_weights([np.asarray(v) for v in values])
    got = pinn.derivatives(model, XS, 3)
    for k in range(4):
        assert got[k].dtype == np.float64
        np.testing.assert_allclose(got[k][:, 0], _closed("tanh", XS)[k], **F64)


def test_float64_layers_unbuilt_model_keeps_float64():
    model = keras.Sequential([keras.layers.Dense(1, activation="tanh", dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    got = pinn.derivatives(model, XS, 2)
    assert [g.dtype for g in got] == [np.float64] * 3


# ------------------------------------------------------------ a pinn Solution as the model


def test_a_solution_as_the_model_equals_solution_derivatives(solve_once):
    solution = solve_once("lotka_volterra", TINY)  # two unknowns u, v: column order matters
    x = np.linspace(*solution.problem.domain, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pinn.derivatives(solution, x, 2)
    expected = solution.derivatives(x, 2)
    for k in range(3):
        assert got[k].shape == (11, 2)
        for i, unknown in enumerate(solution.problem.unknowns):
            np.testing.assert_allclose(got[k][:, i], expected[unknown][k], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ order


def test_order_zero_is_the_model_output(random_model):
    x = np.linspace(-1.0, 1.0, 5)
    got = pinn.derivatives(random_model, x, 0)
    assert len(got) == 1
    np.testing.assert_allclose(got[0], random_model(x.reshape(-1, 1)).numpy(), rtol=1e-14, atol=1e-14)


def test_default_order_is_two_and_numpy_integers_are_accepted(random_model):
    assert len(pinn.derivatives(random_model, [0.0])) == 3
    assert len(pinn.derivatives(random_model, [0.0], np.int64(1))) == 2


@pytest.mark.parametrize("order", [-1, 1.5, 2.0, True, "2", None])
def test_invalid_order_raises(random_model, order):
    with pytest.raises(ValueError, match="order must be a whole number"):
        pinn.derivatives(random_model, [0.0], order)


# ------------------------------------------------------------ which models warn


def _mixed():
    return keras.Sequential([
        keras.Input(shape=(1,)),
        keras.layers.Dense(8, activation="tanh", name="smooth_part"),
        keras.layers.Dense(8, activation="relu", name="kinked_part"),
        keras.layers.Dense(1, name="head"),
    ])


def test_mixed_smooth_and_relu_warns_with_the_mixed_message():
    keras.utils.set_random_seed(1)
    model = _mixed()
    with pytest.warns(PiecewiseLinearWarning, match="mix smooth parts with kinks") as record:
        got = pinn.derivatives(model, np.linspace(-1, 1, 7), 2)
    message = str(record[0].message)
    assert "kinked_part (relu)" in message
    assert "smooth_part" not in message and "head" not in message
    assert "piecewise linear in its input" not in message
    assert np.any(got[2] != 0)  # the tanh layer still curves


@pytest.mark.parametrize("layer", [
    lambda: keras.layers.ReLU(), lambda: keras.layers.Activation("relu"), lambda: keras.layers.LeakyReLU(),
    lambda: keras.layers.Dense(4, activation="relu6"), lambda: keras.layers.Dense(4, activation=tf.nn.relu),
], ids=["ReLU-layer", "Activation-relu", "LeakyReLU", "relu6", "tf.nn.relu"])
def test_other_spellings_of_relu_warn(layer):
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(4), layer(), keras.layers.Dense(1)])
    with pytest.warns(PiecewiseLinearWarning, match="piecewise linear in its input"):
        pinn.derivatives(model, [0.5], 1)


def test_relu_inside_a_nested_model_warns():
    inner = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(4, activation="relu", name="inner_relu")], name="inner")
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(4, activation="tanh"), inner, keras.layers.Dense(1)])
    with pytest.warns(PiecewiseLinearWarning, match="inner_relu"):
        pinn.derivatives(model, [0.5], 2)


@pytest.mark.parametrize("activation", ["tanh", tf.sin, "softplus", "silu", "gelu"], ids=["tanh", "sin", "softplus", "silu", "gelu"])
def test_purely_smooth_models_do_not_warn(activation):
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(8, activation=activation),
                              keras.layers.Lambda(tf.sin), keras.layers.Dense(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pinn.derivatives(model, np.linspace(-1, 1, 5), 3)
    assert np.all(np.isfinite(got[3]))


def test_hard_silu_is_not_called_piecewise_linear():
    model = keras.Sequential([keras.Input(shape=(1,), dtype="float64"), keras.layers.Activation("hard_silu", dtype="float64")])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = pinn.derivatives(model, [-1.0, 0.0, 1.0], 2)
    np.testing.assert_allclose(got[2][:, 0], 1 / 3, rtol=1e-12)  # holds: the curvature is there
    assert not [w for w in record if issubclass(w.category, PiecewiseLinearWarning)]


@pytest.mark.parametrize("activation", ["soft_shrink", "hard_shrink", "sparse_sigmoid"])
def test_other_keras_piecewise_linear_activations_warn(activation):
    model = keras.Sequential([keras.Input(shape=(1,), dtype="float64"), keras.layers.Dense(1, dtype="float64"),
                              keras.layers.Activation(activation, dtype="float64")])
    model.layers[0].set_weights([np.array([[1.0]]), np.array([0.0])])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = pinn.derivatives(model, [-0.7, 0.2, 0.9], 2)
    assert np.all(got[2] == 0)  # holds
    assert [w for w in record if issubclass(w.category, PiecewiseLinearWarning)]


# ------------------------------------------------------------ high orders: Taylor mode for Dense stacks


def _tanh_chain(order):
    """Integer polynomials P_k with tanh^(k) = P_k(tanh): P_0 = t, P_{k+1} = P_k' (1 - t^2)."""
    polynomials = [[0, 1]]
    for _ in range(order):
        derivative = [i * c for i, c in enumerate(polynomials[-1])][1:]
        out = [0] * (len(derivative) + 2)
        for i, c in enumerate(derivative):
            out[i] += c
            out[i + 2] -= c
        polynomials.append(out)
    return polynomials


def _exactly(polynomial, values):
    """Each value put into the integer polynomial in rational arithmetic (no cancellation), rounded once."""
    from fractions import Fraction

    out = []
    for value in values:
        t, total = Fraction(float(value)), Fraction(0)
        for c in reversed(polynomial):
            total = total * t + c
        out.append(float(total))
    return np.array(out)


def test_dense_stack_above_order_3_uses_taylor_mode_and_matches_its_closed_form_to_order_12():
    from pinn import network_derivatives

    model = _smooth_model("tanh", "float64")
    assert network_derivatives.dense_chain(model) is not None
    got = pinn.derivatives(model, XS, 12)
    t = np.tanh(W * XS + B)
    for k, polynomial in enumerate(_tanh_chain(12)):
        expected = A * _exactly(polynomial, t) + C if k == 0 else A * W**k * _exactly(polynomial, t)
        # rounding of Taylor mode's recurrences only (the closed form is exact at the float64 tanh)
        np.testing.assert_allclose(got[k][:, 0], expected, rtol=0, atol=1e-12 * np.max(np.abs(expected)), err_msg=f"order {k}")


def test_dense_stack_taylor_mode_matches_nested_tapes(random_model):
    """tanh and softplus layers, two outputs: Taylor mode (order 5) against nested tapes of the same model."""
    from pinn.residuals import nested_tape_derivatives

    x = np.linspace(-1.5, 1.5, 13)
    got = pinn.derivatives(random_model, x, 5)
    tapes = tf.function(lambda z: nested_tape_derivatives(lambda q: random_model(q), z, 5))(tf.constant(x.reshape(-1, 1)))
    np.testing.assert_array_equal(got[0], tapes[0].numpy())  # the layers' own operations for the values
    for k in range(1, 6):
        scale = np.max(np.abs(tapes[k].numpy()))
        np.testing.assert_allclose(got[k], tapes[k].numpy(), rtol=0, atol=1e-12 * scale, err_msg=f"order {k}")


def test_other_models_keep_nested_tapes():
    from pinn import network_derivatives

    assert network_derivatives.dense_chain(_smooth_model("sin-lambda", "float64")) is None  # a Lambda layer
    dropout = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dropout(0.1),
                                keras.layers.Dense(1)])
    assert network_derivatives.dense_chain(dropout) is None
    # and they still differentiate beyond order 3 (nested tapes: sin's derivatives cycle)
    got = pinn.derivatives(_smooth_model("sin-lambda", "float64"), XS, 5)
    u = W * XS + B
    np.testing.assert_allclose(got[5][:, 0], A * W**5 * np.cos(u), **F64)


def test_the_compiled_derivatives_cache_does_not_keep_a_model_alive():
    import gc
    import weakref

    import tensorflow as tf

    from pinn import network_derivatives

    model = tf.keras.Sequential([tf.keras.Input(shape=(1,)), tf.keras.layers.Dense(4, activation="tanh"), tf.keras.layers.Dense(1)])
    pinn.derivatives(model, np.linspace(0.0, 1.0, 5), order=2)
    assert model in network_derivatives._compiled
    held = weakref.ref(model)
    del model
    gc.collect()
    assert held() is None
