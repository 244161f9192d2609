"""pinn.network: the MLP (scaling, seeding, dtypes, activations) and the trial solution."""

import math

import numpy as np
import pytest
import tensorflow as tf

import pinn
from pinn.network import ACTIVATION_FUNCTIONS, MLP
from pinn.problem import ACTIVATIONS
from pinn.residuals import derivatives
from pinn.solver import build_model

from conftest import problem_path

F64 = tf.float64


def _weights(network):
    return [v.numpy() for v in network.kernels + network.biases]


# ------------------------------------------------------------ MLP


@pytest.mark.parametrize("domain", [(0.0, 1.0), (-3.0, 5.0), (1000.0, 1600.0)])
def test_input_is_scaled_from_the_domain_to_minus_one_one(domain):
    """The network on [a, b] at x equals the same network on [-1, 1] at 2 (x - a)/(b - a) - 1."""
    on_domain = MLP((8, 8), 2, "tanh", domain, F64, seed=4)
    on_unit = MLP((8, 8), 2, "tanh", (-1.0, 1.0), F64, seed=4)
    a, b = domain
    x = np.linspace(a, b, 9).reshape(-1, 1)
    unit = 2.0 * (x - a) / (b - a) - 1.0
    np.testing.assert_allclose(unit[[0, -1], 0], [-1.0, 1.0])
    # one affine map of x (a few roundings of numbers of size |x|) before identical layers
    np.testing.assert_allclose(
        on_domain(tf.constant(x, dtype=F64)).numpy(), on_unit(tf.constant(unit, dtype=F64)).numpy(), rtol=1e-12, atol=1e-12
    )


def test_the_first_layer_sees_inputs_in_minus_one_one():
    """With a linear activation and identity-like weights the first preactivation is the scaled input."""
    network = MLP((1,), 1, "linear", (1000.0, 1600.0), F64, seed=0)
    network.kernels[0].assign([[1.0]])
    network.kernels[1].assign([[1.0]])
    out = network(tf.constant([[1000.0], [1300.0], [1600.0]], dtype=F64)).numpy()[:, 0]
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0], atol=1e-15)


def test_same_seed_same_weights_other_seed_other_weights():
    first = MLP((16, 16), 2, "tanh", (0.0, 1.0), F64, seed=11)
    again = MLP((16, 16), 2, "tanh", (0.0, 1.0), F64, seed=11)
    other = MLP((16, 16), 2, "tanh", (0.0, 1.0), F64, seed=12)
    for a, b in zip(_weights(first), _weights(again)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first.kernels, other.kernels))
    assert not np.array_equal(first.kernels[0].numpy(), other.kernels[0].numpy())


def test_layer_shapes_and_glorot_initialisation():
    network = MLP((64, 32), 3, "tanh", (0.0, 1.0), F64, seed=0)
    assert [k.shape for k in network.kernels] == [(1, 64), (64, 32), (32, 3)]
    assert [b.shape for b in network.biases] == [(64,), (32,), (3,)]
    assert all(np.all(b.numpy() == 0) for b in network.biases)
    middle = network.kernels[1].numpy()
    # Glorot normal: std sqrt(2 / (64 + 32)) = 0.144; 2048 draws give the std within ~5%
    assert middle.std() == pytest.approx(math.sqrt(2 / 96), rel=0.1)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_dtypes(dtype):
    network = MLP((8,), 2, "tanh", (0.0, 2.0), dtype, seed=0)
    assert all(v.dtype == dtype for v in network.kernels + network.biases)
    out = network(tf.constant(np.linspace(0, 2, 5).reshape(-1, 1), dtype=dtype))
    assert out.dtype == dtype and out.shape == (5, 2)


def test_float32_and_float64_networks_agree_to_float32_precision():
    x = np.linspace(0, 2, 7).reshape(-1, 1)
    single = MLP((16, 16), 1, "tanh", (0.0, 2.0), tf.float32, seed=5)(tf.constant(x, dtype=tf.float32)).numpy()
    double = MLP((16, 16), 1, "tanh", (0.0, 2.0), F64, seed=5)(tf.constant(x, dtype=F64)).numpy()
    # same weights rounded to float32, three layers of O(1) values: ~1e-6 relative
    np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-5)


def test_activation_table_matches_the_problem_vocabulary():
    assert set(ACTIVATION_FUNCTIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", sorted(ACTIVATION_FUNCTIONS))
def test_every_activation_runs_and_differentiates(activation):
    network = MLP((8, 8), 2, activation, (0.0, 1.0), F64, seed=1)
    x = tf.constant(np.linspace(0.0, 1.0, 11).reshape(-1, 1), dtype=F64)
    values = derivatives(network, x, 2)
    assert values[0].shape == (11, 2)
    assert all(np.all(np.isfinite(v.numpy())) for v in values)
    assert np.ptp(values[0].numpy()) > 0, "the output should vary with x"


@pytest.mark.parametrize("activation", ["tanh", "sin", "cos", "sigmoid", "softplus", "gaussian", "silu"])
def test_activations_with_closed_forms(activation):
    closed = {
        "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "softplus": lambda v: np.log1p(np.exp(v)), "gaussian": lambda v: np.exp(-v * v), "silu": lambda v: v / (1 + np.exp(-v)),
    }[activation]
    v = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(ACTIVATION_FUNCTIONS[activation](tf.constant(v, dtype=F64)).numpy(), closed(v), rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------ trial solution with built-in conditions


def _model(text_or_name, overrides=()):
    if "\n" in text_or_name:
        problem = pinn.problem_from_text(text_or_name, list(overrides))
    else:
        problem = pinn.load_problem(problem_path(text_or_name), list(overrides))
    model, _ = build_model(problem)
    # an untrained network with non-zero biases, so N(p) != 0 at the condition points
    rng = np.random.default_rng(0)
    for bias in model.network.biases:
        bias.assign(rng.normal(0.0, 0.5, bias.shape))
    return problem, model


def _at(model, points, order):
    x = tf.constant(np.reshape(points, (-1, 1)), dtype=model.dtype)
    return [d.numpy() for d in derivatives(model, x, order)]


def _built_in_residual_check(model, checks, order):
    """checks: (point, order, unknown index, value); every one holds to float64 rounding."""
    for point, k, column, value in checks:
        got = _at(model, [point], order)[k][0, column]
        # P(p) = v exactly and D(p) = 0 exactly (a product with a factor (p - p) = 0),
        # and derivatives of D at p vanish up to rounding of O(1) terms.
        assert got == pytest.approx(value, abs=1e-12), (point, k, column)


def test_taylor_form_value_and_slope_at_a_point():
    """harmonic.yaml: y(0) = 1, y'(0) = 0."""
    _, model = _model("harmonic")
    assert model.built_in["y"].form == "taylor"
    _built_in_residual_check(model, [(0.0, 0, 0, 1.0), (0.0, 1, 0, 0.0)], 1)
    away = _at(model, [1.0, 3.0], 1)
    assert np.all(np.abs(away[0][:, 0] - 1.0) > 1e-6), "away from 0 the network still shapes y"


def test_taylor_form_three_conditions_at_an_interior_point():
    text = """
    domain: [-1, 2]
    equations:
      - y''' = -y
    conditions:
      - y(0.5) = 1.5
      - y'(0.5) = -2
      - y''(0.5) = 3
    """
    _, model = _model(text)
    assert model.built_in["y"].form == "taylor"
    _built_in_residual_check(model, [(0.5, 0, 0, 1.5), (0.5, 1, 0, -2.0), (0.5, 2, 0, 3.0)], 2)
    third = _at(model, [0.5], 3)[3][0, 0]
    assert abs(third) > 1e-6, "the third derivative is free"


def test_taylor_form_far_from_zero():
    """cooling.yaml: T(1000) = 350 on [1000, 1600]; the output scale is 350."""
    _, model = _model("cooling")
    _built_in_residual_check(model, [(1000.0, 0, 0, 350.0)], 0)
    assert model.scales["T"] == pytest.approx(350.0)


def test_lagrange_form_two_points():
    """quadratic.yaml: y(0) = 0, y(1) = 1."""
    _, model = _model("quadratic")
    assert model.built_in["y"].form == "lagrange"
    _built_in_residual_check(model, [(0.0, 0, 0, 0.0), (1.0, 0, 0, 1.0)], 0)


def test_lagrange_form_three_points():
    text = """
    domain: [0, 2]
    equations:
      - y''' = 0
    conditions:
      - y(0) = 1
      - y(0.7) = 2
      - y(2) = -1
    """
    _, model = _model(text)
    assert model.built_in["y"].form == "lagrange"
    _built_in_residual_check(model, [(0.0, 0, 0, 1.0), (0.7, 0, 0, 2.0), (2.0, 0, 0, -1.0)], 0)


def test_built_in_conditions_of_a_system():
    """lotka_volterra.yaml: u(0) = 10, v(0) = 5 on two outputs."""
    _, model = _model("lotka_volterra")
    _built_in_residual_check(model, [(0.0, 0, 0, 10.0), (0.0, 0, 1, 5.0)], 0)


def test_built_in_value_given_by_a_trainable_parameter():
    text = """
    domain: [0, 1]
    parameters:
      c: {initial: 0.25, trainable: true}
    equations:
      - y'' = -y
    conditions:
      - y(0) = c
      - y'(0) = 1
    data:
      x: [0.5, 1.0]
      y: [0.6, 0.9]
    """
    _, model = _model(text)
    for c in (0.25, -4.0):
        model.parameters["c"].assign(c)
        _built_in_residual_check(model, [(0.0, 0, 0, c), (0.0, 1, 0, 1.0)], 1)


def test_soft_constraints_build_nothing_in():
    _, model = _model("harmonic", ["training.constraints=soft"])
    assert model.built_in == {}
    value = _at(model, [0.0], 0)[0][0, 0]
    assert abs(value - 1.0) > 1e-6, "nothing forces y(0) = 1"


def test_trial_solution_is_float32_when_asked():
    _, model = _model("quadratic", ["training.dtype=float32"])
    assert model.dtype == tf.float32
    values = _at(model, [0.0, 1.0], 0)[0]
    assert values.dtype == np.float32
    # Lagrange P(x) and D(x) at the nodes are exact in float32 too
    np.testing.assert_allclose(values[:, 0], [0.0, 1.0], atol=1e-6)
