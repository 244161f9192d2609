"""pinn.taylor: Taylor-mode derivatives against nested tapes (every activation, the trial
solution's forms, stacked members, gradients) and against closed forms at high orders;
the dispatch in pinn.residuals.derivatives; a 6th-order problem solved end to end.

Tolerances, by where the numbers come from:
  * against nested tapes, float64: 1e-12 relative to the largest value of that
    order over the points (both sides are a few dozen roundings of O(1)-O(100)
    numbers; measured agreement is 1e-15);
  * against closed forms: the closed forms are integer polynomials (tanh,
    sigmoid, Hermite) evaluated exactly in rational arithmetic at the float64
    value of tanh(u), sigmoid(u) or u, so only Taylor mode's own rounding
    shows: k Cauchy-product terms per coefficient over k orders grows the
    error roughly like k^2 eps; 1e-11 relative to the largest value of the
    order covers order 20 (measured ~1e-14).
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

import pinn
from pinn import taylor
from pinn.network import ACTIVATION_FUNCTIONS, MLP
from pinn.residuals import derivatives, nested_tape_derivatives
from pinn.solver import build_model

from conftest import TINY

F64 = tf.float64


def _relative_errors(got, expected):
    """max |got - expected| / max |expected| per order (absolute where expected is all zero)."""
    errors = []
    for g, e in zip(got, expected):
        g, e = np.asarray(g), np.asarray(e)
        scale = np.max(np.abs(e))
        errors.append(np.max(np.abs(g - e)) / (scale if scale > 0 else 1.0))
    return errors


def _random_mlp(activation, seed=3, outputs=2, domain=(0.0, 2.0)):
    network = MLP((8, 8), outputs, activation, domain, F64, seed)
    rng = np.random.default_rng(seed + 100)
    for bias in network.biases:  # non-zero biases, so no symmetry hides an error
        bias.assign(rng.normal(0.0, 0.5, bias.shape))
    return network


X = tf.constant(np.linspace(0.05, 1.95, 23).reshape(-1, 1), dtype=F64)


# ------------------------------------------------------------ against nested tapes


@pytest.mark.parametrize("activation", sorted(set(ACTIVATION_FUNCTIONS) - {"swish"}))  # swish is silu
def test_every_activation_matches_nested_tapes_to_order_4(activation):
    network = _random_mlp(activation)
    tapes = nested_tape_derivatives(network, X, 4)
    modes = taylor.derivatives(network, X, 4)
    assert len(modes) == 5
    assert all(m.shape == t.shape and m.dtype == F64 for m, t in zip(modes, tapes))
    np.testing.assert_array_equal(modes[0].numpy(), network(X).numpy())  # the model's own operations
    assert max(_relative_errors(modes, tapes)) < 1e-12


def test_every_activation_has_a_rule():
    assert set(taylor.RULES) == set(ACTIVATION_FUNCTIONS)
    assert all(taylor.supports(MLP((4,), 1, name, (0.0, 1.0), F64, 0)) for name in ACTIVATION_FUNCTIONS)
    assert not taylor.supports(lambda x: x)


def _model(text, overrides=(), biases=True):
    problem = pinn.problem_from_text(text, list(overrides))
    model, residuals = build_model(problem)
    if biases:
        rng = np.random.default_rng(1)
        for bias in model.network.biases:
            bias.assign(rng.normal(0.0, 0.5, bias.shape))
    return problem, model, residuals


TAYLOR_FORM = """
domain: [0, 2]
parameters:
  k: 1.3
equations:
  - y''' = -k*y
conditions:
  - y(0) = 1
  - y'(0) = -k
  - y''(0) = k^2
"""
LAGRANGE_FORM = """
domain: [-1, 2]
equations:
  - y'' = -y
conditions:
  - y(-1) = 1
  - y(2) = 3
"""
TWO_UNKNOWNS = """
domain: [0, 3]
equations:
  - u' = v
  - v' = -u
conditions:
  - u(0) = 1
  - v(1) = 3
"""
LEARNED_CONDITION = """
domain: [0, 2]
parameters:
  a: {initial: 0.5, trainable: true}
equations:
  - y'' = -y
conditions:
  - y(0) = a
  - y'(0) = 1
data:
  x: [1.0, 2.0]
  y: [0.8, 0.9]
"""


@pytest.mark.parametrize("text,forms", [
    (TAYLOR_FORM, {"y": "taylor"}), (LAGRANGE_FORM, {"y": "lagrange"}), (TWO_UNKNOWNS, {"u": "taylor", "v": "taylor"}),
    (LEARNED_CONDITION, {"y": "taylor"}), (LAGRANGE_FORM, {}),
], ids=["taylor-form", "lagrange-form", "two-unknowns", "trainable-value", "soft"])
def test_trial_solution_matches_nested_tapes_to_order_5(text, forms):
    problem, model, _ = _model(text, [] if forms else ["training.constraints=soft"])
    assert {u: f.form for u, f in model.built_in.items()} == forms
    x = tf.constant(np.linspace(*problem.domain, 13).reshape(-1, 1), dtype=F64)
    tapes = nested_tape_derivatives(model, x, 5)
    modes = taylor.derivatives(model, x, 5)
    np.testing.assert_array_equal(modes[0].numpy(), model(x).numpy())
    assert max(_relative_errors(modes, tapes)) < 1e-12


def test_stacked_members_match_nested_tapes():
    from pinn.vectorized import build_stacked_model

    problems = [pinn.problem_from_text(TAYLOR_FORM, [f"training.seed={s}", f"parameters.k={1 + s}"]) for s in range(3)]
    model, _ = build_stacked_model(problems)
    x = tf.constant(np.stack([np.linspace(0.0, 2.0, 7).reshape(-1, 1) + 0.01 * s for s in range(3)]), dtype=F64)
    tapes = nested_tape_derivatives(model, x, 5)
    modes = taylor.derivatives(model, x, 5)
    assert modes[5].shape == (3, 7, 1)
    np.testing.assert_array_equal(modes[0].numpy(), model(x).numpy())
    assert max(_relative_errors(modes, tapes)) < 1e-12


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_gradient_with_respect_to_weights_matches_nested_tapes(compiled):
    """Training differentiates the residual with respect to the weights: the two methods give the same gradient."""
    _, model, _ = _model(LEARNED_CONDITION)
    x = tf.constant(np.linspace(0.0, 2.0, 17).reshape(-1, 1), dtype=F64)
    variables = model.weights

    def gradients(method, compiled):
        def run():
            with tf.GradientTape() as tape:
                values = method(model, x, 4)
                loss = tf.reduce_mean(tf.square(values[4] + values[0])) + tf.reduce_mean(tf.square(values[2]))
            return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return tf.function(run)() if compiled else run()

    # nested tapes eagerly either way (tracing their gradient costs seconds), Taylor mode eager or compiled
    tapes, modes = gradients(nested_tape_derivatives, False), gradients(taylor.derivatives, compiled)
    assert max(_relative_errors(modes, tapes)) < 1e-11
    assert np.any(modes[-1].numpy() != 0), "the trainable condition value reaches the loss"


# ------------------------------------------------------------ against closed forms, up to order 20


def _chain_polynomials(derivative_of_base, order):
    """Integer polynomials P_k with s^(k)(u) = P_k(s(u)) when s' = Q(s): P_0 = t, P_{k+1} = P_k' Q."""
    def times(a, b):
        out = [0] * (len(a) + len(b) - 1)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                out[i + j] += x * y
        return out

    polynomials = [[0, 1]]
    for _ in range(order):
        p = polynomials[-1]
        polynomials.append(times([i * c for i, c in enumerate(p)][1:] or [0], derivative_of_base))
    return polynomials


def _exact(polynomial, at: np.ndarray) -> np.ndarray:
    """The integer polynomial at each float64 point, in exact rational arithmetic, rounded once."""
    out = []
    for value in at.ravel():
        t, total = Fraction(float(value)), Fraction(0)
        for c in reversed(polynomial):
            total = total * t + c
        out.append(float(total))
    return np.array(out).reshape(at.shape)


def _hermite(order):
    """Physicists' Hermite polynomials H_0..H_order as integer coefficient lists."""
    polynomials = [[1], [0, 2]]
    for n in range(1, order):
        a, b = polynomials[n], polynomials[n - 1]
        polynomials.append([2 * (a[i - 1] if i > 0 else 0) - 2 * n * (b[i] if i < len(b) else 0) for i in range(n + 2)])
    return polynomials[: order + 1]


U = np.linspace(-2.5, 2.5, 41).reshape(-1, 1)
ORDER = 20


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _closed_form(name, u, order):
    """[s(u), s'(u), ..., s^(order)(u)] in numpy, or None where there is no closed form here."""
    if name == "tanh":
        t = np.tanh(u)
        return [_exact(p, t) for p in _chain_polynomials([1, 0, -1], order)]
    if name == "sigmoid":
        s = _sigmoid(u)
        return [_exact(p, s) for p in _chain_polynomials([0, 1, -1], order)]
    if name == "softplus":
        s = _sigmoid(u)
        return [np.log1p(np.exp(u))] + [_exact(p, s) for p in _chain_polynomials([0, 1, -1], order - 1)]
    if name in ("silu", "swish"):
        sigma = _closed_form("sigmoid", u, order)
        return [u * sigma[0]] + [u * sigma[k] + k * sigma[k - 1] for k in range(1, order + 1)]
    if name == "sin":
        return [np.sin(u + k * math.pi / 2) for k in range(order + 1)]
    if name == "cos":
        return [np.cos(u + k * math.pi / 2) for k in range(order + 1)]
    if name == "gaussian":  # d^k exp(-u^2) = (-1)^k H_k(u) exp(-u^2)
        return [(-1) ** k * _exact(h, u) * np.exp(-u * u) for k, h in enumerate(_hermite(order))]
    if name == "gelu":
        # tf.nn.gelu: u Phi(a u), a = sqrt(2) c with c the float32 of 1/sqrt(2) (see pinn.taylor._GELU_C);
        # Phi^(k)(v) = (-1)^(k-1) He_{k-1}(v) phi(v) for k >= 1, He_n(v) = 2^(-n/2) H_n(v / sqrt 2)
        a = math.sqrt(2.0) * taylor._GELU_C
        v = a * u
        phi = np.exp(-v * v / 2) / math.sqrt(2 * math.pi)
        hermite = _hermite(order)
        he = [2.0 ** (-n / 2) * _exact(hermite[n], v / math.sqrt(2.0)) for n in range(order)]
        big_phi = [0.5 * (1.0 + np.vectorize(math.erf)(v / math.sqrt(2.0)))] + [
            a**k * (-1) ** (k - 1) * he[k - 1] * phi for k in range(1, order + 1)]
        return [u * big_phi[0]] + [u * big_phi[k] + k * big_phi[k - 1] for k in range(1, order + 1)]
    if name in ("elu", "selu"):
        scale, alpha = (1.0, 1.0) if name == "elu" else (taylor._SELU_SCALE, taylor._SELU_ALPHA)
        negative = u < 0
        value = scale * np.where(negative, alpha * np.expm1(np.minimum(u, 0.0)), u)
        rest = [scale * np.where(negative, alpha * np.exp(np.minimum(u, 0.0)), 1.0 if k == 1 else 0.0) for k in range(1, order + 1)]
        return [value] + rest
    linear_pieces = {
        "relu": (lambda u: u > 0, 1.0), "relu6": (lambda u: (u > 0) & (u < 6), 1.0), "hard_tanh": (lambda u: np.abs(u) < 1, 1.0),
        "hard_sigmoid": (lambda u: np.abs(0.2 * u) < 0.5, 0.2), "linear": (lambda u: u == u, 1.0),
        "leaky_relu": (lambda u: u > 0, 1.0),
    }
    if name in linear_pieces:
        inside, slope = linear_pieces[name]
        outside = float(np.float32(0.2)) if name == "leaky_relu" else 0.0
        value = ACTIVATION_FUNCTIONS[name](tf.constant(u, dtype=F64)).numpy()
        return [value, np.where(inside(u), slope, outside)] + [np.zeros_like(u)] * (order - 1)
    return None  # mish: checked against nested tapes only


WITH_CLOSED_FORMS = [name for name in sorted(ACTIVATION_FUNCTIONS) if _closed_form(name, U[:2], 2) is not None]


def test_mish_is_the_only_activation_without_a_closed_form_here():
    assert set(ACTIVATION_FUNCTIONS) - set(WITH_CLOSED_FORMS) == {"mish"}


@pytest.mark.parametrize("activation", WITH_CLOSED_FORMS)
def test_activation_series_match_closed_forms_to_order_20(activation):
    u = tf.constant(U, dtype=F64)
    series = taylor.RULES[activation]([u, tf.ones_like(u)] + [None] * (ORDER - 1), ACTIVATION_FUNCTIONS[activation](u))
    got = [np.zeros_like(U) if c is None else c.numpy() * math.factorial(k) for k, c in enumerate(series)]
    expected = _closed_form(activation, U, ORDER)
    errors = _relative_errors(got, expected)
    assert max(errors) < 1e-11, [f"{e:.1e}" for e in errors]


@pytest.mark.parametrize("activation", ["tanh", "sin", "sigmoid", "gaussian"])
def test_a_one_neuron_network_matches_its_closed_form_to_order_20(activation):
    """N(x) = A s(W xhat + B) + C on [0, 3] (xhat = (x - 1.5) / 1.5): derivative k is A (W / 1.5)^k s^(k)."""
    A, W, B, C = 1.3, 0.9, -0.4, 0.25
    network = MLP((1,), 1, activation, (0.0, 3.0), F64, 0)
    network.kernels[0].assign([[W]])
    network.biases[0].assign([B])
    network.kernels[1].assign([[A]])
    network.biases[1].assign([C])
    x = np.linspace(0.0, 3.0, 31).reshape(-1, 1)
    got = [d.numpy() for d in derivatives(network, tf.constant(x, dtype=F64), ORDER)]
    base = _closed_form(activation, W * (x - 1.5) / 1.5 + B, ORDER)
    expected = [A * base[0] + C] + [A * (W / 1.5) ** k * base[k] for k in range(1, ORDER + 1)]
    assert max(_relative_errors(got, expected)) < 1e-11


def test_mish_to_order_6_against_nested_tapes_of_one_neuron():
    """No closed form for mish: nested tapes are still affordable at order 6 on one neuron."""
    network = MLP((1,), 1, "mish", (0.0, 3.0), F64, 0)
    network.kernels[0].assign([[1.7]])
    network.biases[0].assign([-0.3])
    x = tf.constant(np.linspace(0.0, 3.0, 11).reshape(-1, 1), dtype=F64)
    tapes = nested_tape_derivatives(network, x, 6)
    assert max(_relative_errors(taylor.derivatives(network, x, 6), tapes)) < 1e-12


# ------------------------------------------------------------ the dispatch in pinn.residuals.derivatives


def test_low_orders_keep_nested_tapes_bit_for_bit_and_higher_ones_use_taylor_mode(monkeypatch):
    network = _random_mlp("tanh")
    calls = []
    original = taylor.derivatives
    monkeypatch.setattr(taylor, "derivatives", lambda *a: calls.append(a[2]) or original(*a))
    for order in range(taylor.NESTED_TAPE_MAX_ORDER + 1):
        for a, b in zip(derivatives(network, X, order), nested_tape_derivatives(network, X, order)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert calls == []
    high = derivatives(network, X, taylor.NESTED_TAPE_MAX_ORDER + 1)
    assert calls == [taylor.NESTED_TAPE_MAX_ORDER + 1]
    assert len(high) == taylor.NESTED_TAPE_MAX_ORDER + 2
    derivatives(lambda z: network(z), X, 5)  # any other callable: nested tapes
    assert calls == [taylor.NESTED_TAPE_MAX_ORDER + 1]


# ------------------------------------------------------------ problems of high order, end to end


def _sixth_order(extra=""):
    """y^(6) = -y on [0, 1] with y^(k)(0) = sin^(k)(0): exact y = sin x."""
    conditions = "\n".join(f"  - y{chr(39) * k}(0) = {[0, 1, 0, -1][k % 4]}" for k in range(6))
    return f"""
name: sixth_order
domain: [0, 1]
equations:
  - y'''''' = -y
conditions:
{conditions}
exact:
  y: sin(x)
{extra}"""


def test_a_sixth_order_problem_solves_with_short_settings():
    """Nested tapes took 48 s to get this far; Taylor mode a few seconds (the time is not asserted)."""
    problem = pinn.problem_from_text(_sixth_order(), list(TINY))
    assert problem.max_order == 6
    solution = pinn.solve(problem)
    assert solution.success
    assert np.isfinite(solution.final_loss)
    assert solution.values["y"].shape == (7, 51)
    # all six conditions are built in: the values at 0 are exact whatever the training did
    np.testing.assert_allclose(solution.values["y"][:6, 0], [0, 1, 0, -1, 0, 1], atol=1e-12)
    x = np.linspace(0.0, 1.0, 5)
    high = solution.evaluate(x, 8)  # beyond the problem's order, Taylor mode on evaluation too
    assert high["y"].shape == (5,) and np.all(np.isfinite(high["y"]))
    x = np.linspace(0.0, 1.0, 9)
    via_pinn = pinn.derivatives(solution, x, 8)
    expected = solution.derivatives(x, 8)["y"]
    for k in range(9):
        np.testing.assert_allclose(via_pinn[k][:, 0], expected[k], rtol=1e-12, atol=1e-12)


def test_smoothness_of_high_order_uses_the_same_derivatives():
    text = """
variable: t
domain: [0, 2]
data:
  t: [0.0, 0.5, 1.0, 1.5, 2.0]
  u: [1.0, 0.7, 0.5, 0.35, 0.25]
training:
  smoothness: {order: 7, weight: 1.0e-6}
"""
    problem, model, residuals = _model(text)
    assert residuals.term_names[-1] == "smoothness" and residuals.max_order == 7
    x = tf.constant(np.linspace(0.0, 2.0, 16).reshape(-1, 1), dtype=F64)
    terms = residuals.loss_terms(model, x).numpy()
    seventh = nested_tape_derivatives(model, x, 7)[7].numpy()[:, 0]
    expected = np.mean((seventh * residuals.smoothness_scales[0]) ** 2)
    assert terms[-1] == pytest.approx(expected, rel=1e-12)


def test_the_highest_allowed_order_loads_and_its_loss_is_finite():
    """y^(20) = y with all 20 conditions at 0 built in: one loss and gradient, eagerly (no training)."""
    from pinn.expressions import MAX_DERIVATIVE_ORDER

    order = MAX_DERIVATIVE_ORDER
    conditions = "\n".join(f"  - y{chr(39) * k}(0) = 1" for k in range(order))
    problem, model, residuals = _model(f"domain: [0, 1]\nequations:\n  - y{chr(39) * order} = y\nconditions:\n{conditions}\n",
                                       biases=False)
    assert residuals.max_order == order and residuals.term_names == ("equation[0]",)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(residuals.loss_terms(model, tf.constant(np.linspace(0.0, 1.0, 8).reshape(-1, 1), dtype=F64)))
    gradient = tape.gradient(total, model.network.kernels)
    assert np.isfinite(total.numpy()) and all(np.all(np.isfinite(g.numpy())) for g in gradient)
    with pytest.raises(pinn.ProblemError, match="beyond the limit"):
        pinn.problem_from_text(f"domain: [0, 1]\nequations:\n  - y{chr(39) * (order + 1)} = y\n")


def test_eager_evaluation_in_chunks_gives_the_same_numbers(monkeypatch):
    network = _random_mlp("tanh")
    x = tf.constant(np.linspace(0.0, 2.0, 2500).reshape(-1, 1), dtype=F64)
    whole = taylor.derivatives(network, x, 6)
    monkeypatch.setattr(taylor, "EAGER_CHUNK_VALUES", 1)  # chunks of the 1024-point minimum: three of them
    chunked = taylor.derivatives(network, x, 6)
    assert [c.shape for c in chunked] == [w.shape for w in whole]
    assert max(_relative_errors(chunked, whole)) < 1e-14  # the same operations, but matmul may block rows differently


@pytest.mark.parametrize("outputs, taylor_mode", [(3, False), (taylor.MANY_OUTPUTS, True), (9, True)])
def test_many_outputs_take_taylor_mode_at_every_order(outputs, taylor_mode, monkeypatch):
    # nested tapes cost one gradient call per output column per order; from MANY_OUTPUTS on, all columns in one pass
    network = _random_mlp("tanh", outputs=outputs)
    calls = []
    original = taylor.derivatives
    monkeypatch.setattr(taylor, "derivatives", lambda *args: calls.append(args[2]) or original(*args))
    for order in (1, 2):
        got = derivatives(network, X, order)
        assert max(_relative_errors(got, nested_tape_derivatives(network, X, order))) < 1e-12
    assert calls == ([1, 2] if taylor_mode else [])
