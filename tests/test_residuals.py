"""pinn.residuals: nested-tape derivatives, collocation points, loss terms."""

import math

import numpy as np
import pytest
import tensorflow as tf

import pinn
from pinn.network import MLP
from pinn.residuals import collocation_points, derivatives, nested_tape_derivatives
from pinn.solver import build_model

from conftest import problem_path

F64 = tf.float64
X = np.linspace(-1.7, 2.3, 41).reshape(-1, 1)  # includes 0 (up to rounding) and negative points

# (name, f(x) in TensorFlow, [f, f', f'', ...] in numpy): closed forms of each derivative.
ANALYTIC = [
    ("sin", tf.sin, [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin, np.cos]),
    ("exp(2x)", lambda x: tf.exp(2.0 * x), [lambda x, k=k: 2.0**k * np.exp(2.0 * x) for k in range(6)]),
    (
        "x^5 - 3x^3 + x",  # products, so no pow-gradient special cases
        lambda x: x * x * x * x * x - 3.0 * x * x * x + x,
        [
            lambda x: x**5 - 3 * x**3 + x,
            lambda x: 5 * x**4 - 9 * x**2 + 1,
            lambda x: 20 * x**3 - 18 * x,
            lambda x: 60 * x**2 - 18,
            lambda x: 120 * x,
            lambda x: 120 + 0 * x,
        ],
    ),
    (
        "x^4 via pow",
        lambda x: tf.pow(x, 4.0),
        [lambda x: x**4, lambda x: 4 * x**3, lambda x: 12 * x**2, lambda x: 24 * x, lambda x: 24 + 0 * x, lambda x: 0 * x],
    ),
    (
        "sin(x)*exp(-x)",
        lambda x: tf.sin(x) * tf.exp(-x),
        # d^k/dx^k Im(e^{(i-1)x}) = Im((i-1)^k e^{(i-1)x})
        [lambda x, k=k: np.imag((1j - 1) ** k * np.exp((1j - 1) * x)) for k in range(6)],
    ),
]


def _check_against(function, closed_forms, order, compiled):
    x = tf.constant(X, dtype=F64)
    run = tf.function(lambda x: derivatives(function, x, order)) if compiled else (lambda x: derivatives(function, x, order))
    result = run(x)
    assert len(result) == order + 1
    for k, value in enumerate(result):
        assert value.shape == (X.shape[0], 1) and value.dtype == F64
        expected = closed_forms[k](X)
        # Nested tapes apply the chain rule symbolically: each entry is a short
        # sequence of float64 operations on O(100)-sized values, so only
        # rounding separates it from the closed form (|error| ~ 1e-13 at most).
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10, atol=1e-10, err_msg=f"derivative {k}")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("name,function,closed_forms", ANALYTIC, ids=[a[0] for a in ANALYTIC])
def test_derivatives_match_closed_forms_to_order_5(name, function, closed_forms, compiled):
    _check_against(function, closed_forms, 5, compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_two_outputs_are_differentiated_column_by_column(compiled):
    def function(x):
        return tf.concat([tf.sin(x), x * x * x], axis=1)

    x = tf.constant(X, dtype=F64)
    run = tf.function(lambda x: derivatives(function, x, 4)) if compiled else (lambda x: derivatives(function, x, 4))
    result = run(x)
    sines = [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin]
    cubes = [lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6 + 0 * x, lambda x: 0 * x]
    for k, value in enumerate(result):
        assert value.shape == (X.shape[0], 2)
        expected = np.concatenate([sines[k](X), cubes[k](X)], axis=1)
        # rounding only, as above; the columns must not mix (sum of both would be off by O(1))
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10, atol=1e-10, err_msg=f"derivative {k}")


def test_derivatives_of_a_linear_function_vanish_beyond_first_order():
    """Once a derivative no longer depends on x, the tape returns None; it must become zeros."""
    x = tf.constant(X, dtype=F64)
    result = derivatives(lambda x: 2.0 * x + 1.0, x, 3)
    np.testing.assert_array_equal(result[1].numpy(), np.full_like(X, 2.0))
    np.testing.assert_array_equal(result[2].numpy(), np.zeros_like(X))
    np.testing.assert_array_equal(result[3].numpy(), np.zeros_like(X))


def test_order_zero_is_the_function_itself():
    x = tf.constant(X, dtype=F64)
    (value,) = derivatives(tf.sin, x, 0)
    np.testing.assert_array_equal(value.numpy(), np.sin(X))


# ------------------------------------------------------------ finite differences of a network


def _random_mlp(seed=3, outputs=2):
    network = MLP((16, 16), outputs, "tanh", (0.0, 2.0), F64, seed)
    rng = np.random.default_rng(seed + 100)
    for bias in network.biases:  # non-zero biases, so no symmetry hides an error
        bias.assign(rng.normal(0.0, 0.5, bias.shape))
    return network


# Central differences with step h, and their error bounds: truncation plus
# rounding (eps = 2.2e-16).  This network has |f| < 1 and |f^(k)| < 100 for
# k <= 5 (the test checks it; the domain [0, 2] maps to [-1, 1] with factor 1):
#   f'   ~ [f(x+h) - f(x-h)] / 2h                          h^2/6  |f^(3)| + eps |f| / h
#   f''  ~ [f(x+h) - 2f(x) + f(x-h)] / h^2                  h^2/12 |f^(4)| + 4 eps |f| / h^2
#   f''' ~ [f(x+2h) - 2f(x+h) + 2f(x-h) - f(x-2h)] / 2h^3   h^2/4  |f^(5)| + 6 eps |f| / h^3
FINITE_DIFFERENCES = {
    1: (1e-5, lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h)),
    2: (1e-4, lambda f, x, h: (f(x + h) - 2 * f(x) + f(x - h)) / h**2),
    3: (1e-3, lambda f, x, h: (f(x + 2 * h) - 2 * f(x + h) + 2 * f(x - h) - f(x - 2 * h)) / (2 * h**3)),
}
EPS = np.finfo(np.float64).eps
BOUNDS = {  # the bounds above with |f| < 1 and |f^(k)| < 100
    1: 1e-10 / 6 * 100 + EPS / 1e-5,  # 1.7e-9
    2: 1e-8 / 12 * 100 + 4 * EPS / 1e-8,  # 1.6e-7
    3: 1e-6 / 4 * 100 + 6 * EPS / 1e-9,  # 2.6e-5
}


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_of_a_network_match_central_differences(order):
    network = _random_mlp()
    x = np.linspace(0.1, 1.9, 19).reshape(-1, 1)
    h, stencil = FINITE_DIFFERENCES[order]
    f = lambda x: network(tf.constant(x, dtype=F64)).numpy()  # noqa: E731
    automatic = derivatives(network, tf.constant(x, dtype=F64), 5)
    sizes = [np.max(np.abs(d.numpy())) for d in automatic]
    assert sizes[0] < 1 and max(sizes) < 100, "the premise of BOUNDS"
    assert sizes[order] > 0.1, "a vanishing derivative would make the comparison vacuous"
    finite = stencil(f, x, h)
    # twice the stencil's truncation-plus-rounding bound
    np.testing.assert_allclose(automatic[order].numpy(), finite, rtol=0, atol=2 * BOUNDS[order])


def test_gradient_of_a_derivative_with_respect_to_weights():
    """Training differentiates y'' with respect to the weights: check it against a difference quotient."""
    network = _random_mlp(outputs=1)
    x = tf.constant(np.linspace(0.0, 2.0, 17).reshape(-1, 1), dtype=F64)
    kernel = network.kernels[1]
    index = (3, 5)

    def loss():
        second = derivatives(network, x, 2)[2]
        return tf.reduce_mean(tf.square(second - 1.0))

    with tf.GradientTape() as tape:
        value = loss()
    # every weight but the output bias reaches y'' (a constant shift has no derivative)
    gradient = tape.gradient(value, network.kernels + network.biases[:-1])
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in gradient)
    automatic = gradient[1].numpy()[index]

    h = 1e-6
    original = kernel.numpy()
    shifted = []
    for sign in (+1, -1):
        w = original.copy()
        w[index] += sign * h
        kernel.assign(w)
        shifted.append(float(loss().numpy()))
    kernel.assign(original)
    finite = (shifted[0] - shifted[1]) / (2 * h)
    assert abs(automatic) > 1e-4, "pick a weight the loss depends on"
    # central difference: truncation h^2 |L'''| ~ 1e-12, rounding eps |L| / h ~ 1e-10
    assert finite == pytest.approx(automatic, rel=1e-6, abs=1e-9)


def test_gradient_of_a_derivative_inside_tf_function_matches_eager():
    network = _random_mlp(outputs=1)
    x = tf.constant(np.linspace(0.0, 2.0, 17).reshape(-1, 1), dtype=F64)
    variables = network.kernels + network.biases[:-1]  # the output bias does not reach y'''

    def gradients():
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(tf.square(derivatives(network, x, 3)[3]))
        return tape.gradient(value, variables)

    eager = gradients()
    compiled = tf.function(gradients)()
    for a, b in zip(eager, compiled):
        # the same operations in the same order; graph rewrites may reassociate sums
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ collocation points


@pytest.mark.parametrize("domain", [(0.0, 1.0), (-2.0, 3.5), (1000.0, 1600.0)])
def test_grid_points_are_uniform_and_include_both_ends(domain):
    points = collocation_points(domain, 11, "grid", np.random.default_rng(0))
    assert points.shape == (11, 1)
    assert points[0, 0] == domain[0] and points[-1, 0] == domain[1]
    np.testing.assert_allclose(np.diff(points[:, 0]), (domain[1] - domain[0]) / 10, rtol=1e-12)


def test_a_single_grid_point_is_the_midpoint():
    points = collocation_points((2.0, 4.0), 1, "grid", np.random.default_rng(0))
    np.testing.assert_array_equal(points, [[3.0]])


@pytest.mark.parametrize("sampler", ["sobol", "random"])
def test_random_samplers_stay_inside_and_are_reproducible(sampler):
    domain = (-1.0, 4.0)
    points = collocation_points(domain, 64, sampler, np.random.default_rng(7))
    assert points.shape == (64, 1)
    assert np.all((points >= domain[0]) & (points <= domain[1]))
    assert np.all(np.diff(points[:, 0]) >= 0), "points are sorted"
    assert len(np.unique(points)) == 64
    again = collocation_points(domain, 64, sampler, np.random.default_rng(7))
    np.testing.assert_array_equal(points, again)
    other = collocation_points(domain, 64, sampler, np.random.default_rng(8))
    assert not np.array_equal(points, other)


def test_sobol_points_fill_the_domain_evenly():
    """A scrambled Sobol set of 2^k points puts exactly one point in each of 2^k equal cells."""
    points = collocation_points((0.0, 1.0), 64, "sobol", np.random.default_rng(1))[:, 0]
    cells = np.floor(points * 64).astype(int)
    assert sorted(cells) == list(range(64))


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="sampler"):
        collocation_points((0.0, 1.0), 8, "halton", np.random.default_rng(0))


# ------------------------------------------------------------ loss terms


def _build(name_or_text, overrides=()):
    if name_or_text.endswith(".yaml") or "\n" not in name_or_text:
        problem = pinn.load_problem(problem_path(name_or_text), list(overrides))
    else:
        problem = pinn.problem_from_text(name_or_text, list(overrides))
    model, residuals = build_model(problem)
    return problem, model, residuals


def _zero_network_output(model):
    """Make the raw network output 0, so the trial solution is its polynomial part P(x)."""
    model.network.kernels[-1].assign(tf.zeros_like(model.network.kernels[-1]))
    model.network.biases[-1].assign(tf.zeros_like(model.network.biases[-1]))


def _points(problem, count=16):
    return tf.constant(collocation_points(problem.domain, count, "grid", None), dtype=F64)


def test_built_in_conditions_leave_only_equation_terms():
    problem, model, residuals = _build("quadratic")
    assert residuals.term_names == ("equation[0]",)
    assert residuals.conditions == ()
    terms = residuals.loss_terms(model, _points(problem))
    assert terms.shape == (len(residuals.term_names),)
    assert np.all(np.isfinite(terms.numpy()))
    # with N = 0 the trial solution is the Lagrange line y = x, so y'' - 2 = -2 everywhere
    _zero_network_output(model)
    np.testing.assert_allclose(residuals.loss_terms(model, _points(problem)).numpy(), [4.0], rtol=1e-14)


def test_soft_conditions_become_condition_terms():
    problem, model, residuals = _build("quadratic", ["training.constraints=soft"])
    assert residuals.term_names == ("equation[0]", "condition[0]", "condition[1]")
    x = _points(problem)
    terms = residuals.loss_terms(model, x).numpy()
    assert terms.shape == (3,)
    # each term by hand: mean (y'' - 2)^2, (y(0) - 0)^2, (y(1) - 1)^2
    values = derivatives(model, x, 2)
    at_ends = model(tf.constant([[0.0], [1.0]], dtype=F64)).numpy()[:, 0]
    expected = [np.mean((values[2].numpy()[:, 0] - 2.0) ** 2), at_ends[0] ** 2, (at_ends[1] - 1.0) ** 2]
    np.testing.assert_allclose(terms, expected, rtol=1e-12, atol=1e-15)
    assert min(expected[1:]) > 0, "an untrained network misses the conditions"
    # with N = 0 and no built-in part, y = 0: equation 4, y(0) = 0 met, y(1) = 1 missed by 1
    _zero_network_output(model)
    np.testing.assert_allclose(residuals.loss_terms(model, x).numpy(), [4.0, 0.0, 1.0], rtol=1e-14, atol=0)


def test_auto_constraints_penalise_only_what_cannot_be_built_in():
    """robin.yaml: y(0) = 0 is built in; the Robin condition (index 1) stays a penalty."""
    problem, model, residuals = _build("robin")
    assert residuals.term_names == ("equation[0]", "condition[1]")
    np.testing.assert_array_equal(residuals.condition_points[:, 0], [1.0])
    terms = residuals.loss_terms(model, _points(problem)).numpy()
    at_one = [d.numpy()[0, 0] for d in derivatives(model, tf.constant([[1.0]], dtype=F64), 1)]
    # residual of y'(1) + 2 y(1) = 0, squared
    assert terms[1] == pytest.approx((at_one[1] + 2.0 * at_one[0]) ** 2, rel=1e-12)


def test_periodic_conditions_are_penalised_at_both_ends():
    problem, model, residuals = _build("periodic")
    assert residuals.term_names == ("equation[0]", "condition[0]", "condition[1]")
    np.testing.assert_allclose(residuals.condition_points[:, 0], [0.0, 2 * math.pi])
    terms = residuals.loss_terms(model, _points(problem)).numpy()
    ends = derivatives(model, tf.constant([[0.0], [2 * math.pi]], dtype=F64), 1)
    y, dy = ends[0].numpy()[:, 0], ends[1].numpy()[:, 0]
    np.testing.assert_allclose(terms[1:], [(y[0] - y[1]) ** 2, (dy[0] - dy[1]) ** 2], rtol=1e-12)


FIT = """
variable: t
domain: [0, 2]
parameters:
  k: {initial: 1.0, trainable: true}
equations:
  - u' = -k*u
conditions:
  - u(0) = 1
data:
  t: [0.5, 1.0, 1.5, 2.0]
  u: [0.7, 0.5, 0.35, 0.25]
"""


def test_data_adds_one_term_and_trainable_parameters_enter_the_equation():
    problem, model, residuals = _build(FIT)
    assert residuals.term_names == ("equation[0]", "data")
    assert set(model.parameters) == {"k"}
    assert model.weights[-1] is model.parameters["k"]
    t = _points(problem)
    _zero_network_output(model)  # u = 1 (Taylor form with the value at 0 only)
    # u' + k u = 0 + k * 1: the equation term is k^2; the data term is the mean squared misfit of u = 1
    for k in (1.0, 0.3):
        model.parameters["k"].assign(k)
        terms = residuals.loss_terms(model, t).numpy()
        misfit = np.mean((1.0 - np.array([0.7, 0.5, 0.35, 0.25])) ** 2)  # output scale of u is 1
        np.testing.assert_allclose(terms, [k**2, misfit], rtol=1e-13)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(residuals.loss_terms(model, t))
    (dk,) = tape.gradient(total, [model.parameters["k"]])
    assert float(dk) == pytest.approx(2 * 0.3, rel=1e-12)


def test_loss_weights_are_one_per_term():
    _, _, residuals = _build(
        "quadratic", ["training.constraints=soft", "training.weights.equations=2", "training.weights.conditions=10"]
    )
    np.testing.assert_array_equal(residuals.weights, [2.0, 10.0, 10.0])


# ------------------------------------------------------------ high orders: Taylor mode in the loss


FOURTH_ORDER_SOFT = """
domain: [0, 1]
equations:
  - y'''' = y + x*y''
conditions:
  - y(0) = 0
  - y'(0) = 1
  - y''(1) = 0
  - y'''(1) + y(0) = -1
"""


def test_loss_terms_above_order_3_equal_those_from_nested_tapes(monkeypatch):
    """Order 4 goes through Taylor mode; the terms (equation and penalised conditions at two points) are the same."""
    from pinn import taylor

    problem, model, residuals = _build(FOURTH_ORDER_SOFT, ["training.constraints=soft"])
    assert residuals.max_order == 4 > taylor.NESTED_TAPE_MAX_ORDER
    x = _points(problem)
    calls = []
    original = taylor.derivatives
    monkeypatch.setattr(taylor, "derivatives", lambda *a: calls.append(a[2]) or original(*a))
    with tf.GradientTape() as tape:
        terms = residuals.loss_terms(model, x)
        total = tf.reduce_sum(terms)
    gradient = tape.gradient(total, model.weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert calls == [4]
    monkeypatch.setattr(taylor, "NESTED_TAPE_MAX_ORDER", 10)  # nested tapes at every order
    with tf.GradientTape() as tape:
        nested = residuals.loss_terms(model, x)
        nested_total = tf.reduce_sum(nested)
    nested_gradient = tape.gradient(nested_total, model.weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert calls == [4]
    assert terms.shape == (5,)
    # a few dozen roundings of O(1) values on either side
    np.testing.assert_allclose(terms.numpy(), nested.numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(gradient, nested_gradient):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12 * np.max(np.abs(b.numpy())))


def test_nested_tape_derivatives_is_derivatives_for_plain_functions():
    x = tf.constant(X, dtype=F64)
    for a, b in zip(derivatives(tf.sin, x, 6), nested_tape_derivatives(tf.sin, x, 6)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
