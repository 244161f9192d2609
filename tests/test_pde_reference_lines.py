"""The method-of-lines reference (pinn.pde.reference_lines) against closed forms, and its refusals."""

import time

import numpy as np
import pytest

from pinn.pde.reference_lines import USEFUL_AGREEMENT, burgers_cole_hopf, method_of_lines
from pinn.problem_file import problem_from_text


def problem(equations, conditions, domain="{x: [0, 1], t: [0, 0.5]}", parameters=None, variables="[x, t]"):
    """A two-variable problem from its equations and conditions (lists of strings)."""
    lines = [f"variables: {variables}", f"domain: {domain}"]
    if parameters:
        lines.append(f"parameters: {parameters}")
    lines.append("equations:")
    lines += [f"  - {e}" for e in equations]
    lines.append("conditions:")
    lines += [f"  - {c}" for c in conditions]
    return problem_from_text("\n".join(lines) + "\n")


def relative_error(values, exact):
    return float(np.linalg.norm(values - exact) / np.linalg.norm(exact))


def assert_matches(reference, unknown, exact, bound):
    """The relative L2 error below ``bound``, and not above ten times the accuracy the reference claims."""
    assert reference.success, reference.message
    error = relative_error(reference.values[unknown], exact)
    assert error < bound
    assert error <= 10 * max(reference.accuracy, 1e-12), (error, reference.accuracy)


def on_grid(function, x, t):
    X, T = np.meshgrid(x, t, indexing="ij")
    return function(X, T)


X01, T05 = np.linspace(0.0, 1.0, 51), np.linspace(0.0, 0.5, 26)


def test_heat_equation_with_zero_ends_matches_the_decaying_sine():
    p = problem(["u_t = u_xx"], ["u(x, 0) = sin(pi*x)", "u(0, t) = 0", "u(1, t) = 0"])
    reference = method_of_lines(p, (X01, T05))
    assert reference.success, reference.message
    assert reference.values["u"].shape == (51, 26)
    assert "Chebyshev" in reference.label
    assert reference.accuracy < 1e-7
    exact = on_grid(lambda x, t: np.exp(-np.pi ** 2 * t) * np.sin(np.pi * x), X01, T05)
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 6e-10, accuracy 3e-9 (Chebyshev 17 and 33)


def test_periodic_advection_diffusion_matches_the_travelling_decaying_mode():
    p = problem(["u_t + u_x = 0.1*u_xx"], ["u(x, 0) = sin(pi*x)", "u(-1, t) = u(1, t)", "u_x(-1, t) = u_x(1, t)"],
                domain="{x: [-1, 1], t: [0, 1]}")
    x, t = np.linspace(-1.0, 1.0, 41), np.linspace(0.0, 1.0, 21)
    reference = method_of_lines(p, (x, t))
    assert reference.success, reference.message
    assert "Fourier" in reference.label
    exact = on_grid(lambda x, t: np.exp(-0.1 * np.pi ** 2 * t) * np.sin(np.pi * (x - t)), x, t)
    assert_matches(reference, "u", exact, 1e-7)  # reached: error 7e-9, accuracy 1e-8 (Fourier 32 and 64)


def test_wave_equation_second_order_in_time_matches_the_standing_wave():
    p = problem(["u_tt = u_xx"], ["u(x, 0) = sin(pi*x)", "u_t(x, 0) = 0", "u(0, t) = 0", "u(1, t) = 0"],
                domain="{x: [0, 1], t: [0, 1]}")
    t = np.linspace(0.0, 1.0, 21)
    reference = method_of_lines(p, (X01, t))
    assert reference.success, reference.message
    exact = on_grid(lambda x, t: np.cos(np.pi * t) * np.sin(np.pi * x), X01, t)
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 3e-13, accuracy 3e-13


def test_neumann_ends_keep_the_mean_and_match_the_decaying_cosine():
    p = problem(["u_t = u_xx"], ["u(x, 0) = 1 + cos(pi*x)", "u_x(0, t) = 0", "u_x(1, t) = 0"])
    reference = method_of_lines(p, (X01, T05))
    assert reference.success, reference.message
    exact = on_grid(lambda x, t: 1.0 + np.exp(-np.pi ** 2 * t) * np.cos(np.pi * x), X01, T05)
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 2e-10, accuracy 2e-9


def test_time_dependent_dirichlet_and_robin_conditions_match_the_closed_form():
    # u = exp(-t) (x^2 + 2 t) solves u_t = u_xx - u; u_x(1, t) = 2 exp(-t)
    p = problem(["u_t = u_xx - u"], ["u(x, 0) = x^2", "u(0, t) = 2*t*exp(-t)",
                                     "u_x(1, t) + 2*u(1, t) = 2*exp(-t) + 2*(1 + 2*t)*exp(-t)"])
    reference = method_of_lines(p, (X01, T05))
    assert reference.success, reference.message
    exact = on_grid(lambda x, t: np.exp(-t) * (x ** 2 + 2 * t), X01, T05)
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 5e-11, accuracy 2e-10


def test_a_nonlinear_boundary_condition_is_solved_by_newton():
    # the same closed form, its right end written as u_x * u = (2 exp(-t)) ((1 + 2 t) exp(-t))
    p = problem(["u_t = u_xx - u"], ["u(x, 0) = x^2", "u(0, t) = 2*t*exp(-t)",
                                     "u_x(1, t)*u(1, t) = 2*(1 + 2*t)*exp(-2*t)"])
    reference = method_of_lines(p, (X01, T05))
    assert reference.success, reference.message
    exact = on_grid(lambda x, t: np.exp(-t) * (x ** 2 + 2 * t), X01, T05)
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 5e-11, accuracy 2e-10


def test_two_coupled_unknowns_match_their_closed_forms():
    # u + v decays like exp(-pi^2 t), u - v like exp(-(pi^2 + 2) t)
    p = problem(["u_t = u_xx - u + v", "v_t = v_xx + u - v"],
                ["u(x, 0) = sin(pi*x)", "v(x, 0) = 0", "u(0, t) = 0", "u(1, t) = 0", "v(0, t) = 0", "v(1, t) = 0"])
    reference = method_of_lines(p, (X01, T05))
    assert reference.success, reference.message
    slow = on_grid(lambda x, t: np.exp(-np.pi ** 2 * t) * np.sin(np.pi * x), X01, T05)
    fast = on_grid(lambda x, t: np.exp(-(np.pi ** 2 + 2) * t) * np.sin(np.pi * x), X01, T05)
    assert_matches(reference, "u", (slow + fast) / 2, 1e-8)  # reached: error 4e-10, accuracy 2e-8
    assert_matches(reference, "v", (slow - fast) / 2, 1e-8)  # reached: error 2e-9


def test_time_first_variables_give_values_in_that_order():
    p = problem(["u_t = u_xx"], ["u(0, x) = sin(pi*x)", "u(t, 0) = 0", "u(t, 1) = 0"],
                domain="{t: [0, 0.5], x: [0, 1]}", variables="[t, x]")
    reference = method_of_lines(p, (T05, X01))
    assert reference.success, reference.message
    assert reference.values["u"].shape == (26, 51)
    exact = np.exp(-np.pi ** 2 * T05)[:, None] * np.sin(np.pi * X01)[None, :]
    assert_matches(reference, "u", exact, 1e-8)  # reached: error 6e-10, accuracy 3e-9


def test_viscous_burgers_at_moderate_viscosity_matches_cole_hopf():
    nu = 0.1 / np.pi
    p = problem(["u_t + u*u_x = nu*u_xx"], ["u(x, 0) = -sin(pi*x)", "u(-1, t) = 0", "u(1, t) = 0"],
                domain="{x: [-1, 1], t: [0, 1]}", parameters="{nu: 0.1/pi}")
    x, t = np.linspace(-1.0, 1.0, 41), np.linspace(0.0, 1.0, 11)
    reference = method_of_lines(p, (x, t), tolerance=1e-6)
    assert reference.success, reference.message
    exact = on_grid(lambda x, t: burgers_cole_hopf(x, t, nu), x, t)
    assert_matches(reference, "u", exact, 1e-6)  # reached: error 8e-9, accuracy 6e-8 (Chebyshev 129 and 257)


def test_viscous_burgers_with_a_steep_front_matches_cole_hopf():
    """nu = 0.01/pi: Chebyshev does not converge, uniform finite differences do (about 9 s on a busy 2-core machine;
    reached: 2049 and 4097 points agree to 7e-7, the error against Cole-Hopf is 5e-8)."""
    nu = 0.01 / np.pi
    p = problem(["u_t + u*u_x = nu*u_xx"], ["u(x, 0) = -sin(pi*x)", "u(-1, t) = 0", "u(1, t) = 0"],
                domain="{x: [-1, 1], t: [0, 1]}", parameters="{nu: 0.01/pi}")
    x, t = np.linspace(-1.0, 1.0, 201), np.linspace(0.0, 1.0, 101)
    reference = method_of_lines(p, (x, t), tolerance=1e-6, max_seconds=300)
    assert reference.success, reference.message
    assert "finite differences" in reference.label
    exact = on_grid(lambda x, t: burgers_cole_hopf(x, t, nu), x, t)
    assert_matches(reference, "u", exact, 1e-6)  # reached: error 5e-8, accuracy 7e-7 (finite differences 2049 and 4097)


def test_allen_cahn_converges_by_itself_and_stays_between_the_wells():
    """No closed form: Fourier grids agree to 1e-5 (1024 and 2048 points, a few seconds), values in [-1, 1]."""
    p = problem(["u_t = 0.0001*u_xx - 5*u^3 + 5*u"], ["u(x, 0) = x^2*cos(pi*x)", "u(-1, t) = u(1, t)", "u_x(-1, t) = u_x(1, t)"],
                domain="{x: [-1, 1], t: [0, 1]}")
    x, t = np.linspace(-1.0, 1.0, 201), np.linspace(0.0, 1.0, 101)
    reference = method_of_lines(p, (x, t), tolerance=1e-5)
    assert reference.success, reference.message
    assert reference.accuracy <= 1e-5
    u = reference.values["u"]
    assert -1.0 - 1e-6 <= u.min() and u.max() <= 1.0 + 1e-6
    assert np.allclose(u[:, 0], x ** 2 * np.cos(np.pi * x), atol=1e-3)  # the kink at x = +-1 costs a little at t = 0


def test_burgers_cole_hopf_starts_from_the_sine_and_has_basdevants_steepest_slope():
    nu = 0.01 / np.pi
    x = np.linspace(-1.0, 1.0, 9)
    assert np.allclose(burgers_cole_hopf(x, 0.0, nu), -np.sin(np.pi * x))
    u = burgers_cole_hopf(x, 0.7, nu)
    assert np.allclose(u, -u[::-1], atol=1e-12)  # odd in x
    assert np.allclose(burgers_cole_hopf(x, 0.7, nu, nodes=200), u, atol=1e-10)
    # Basdevant et al. (1986): the slope at x = 0 is steepest at t = 1.6037/pi, |u_x| = 152.00516
    h = 1e-5
    slope = (burgers_cole_hopf(h, 1.6037 / np.pi, nu) - burgers_cole_hopf(-h, 1.6037 / np.pi, nu)) / (2 * h)
    assert abs(slope + 152.00516) < 1e-2


@pytest.mark.parametrize("equation, conditions, words", [
    ("u_t = u_xt + u_xx", ["u(x, 0) = sin(pi*x)", "u(0, t) = 0", "u(1, t) = 0"], "mixed derivative"),
    ("u_t^2 = u_xx", ["u(x, 0) = sin(pi*x)", "u(0, t) = 0", "u(1, t) = 0"], "not linear in u_t"),
    ("u_t = u_xx", ["u(x, 0) = sin(pi*x)", "u(0, t) = 0", "u(0.5, t) = 0"], "inside the interval"),
])
def test_problems_outside_the_method_are_refused_with_a_reason(equation, conditions, words):
    reference = method_of_lines(problem([equation], conditions), (X01, T05))
    assert not reference.success
    assert words in reference.message
    assert reference.values == {}


def test_initial_values_that_miss_the_boundary_conditions_are_reported():
    p = problem(["u_t = u_xx"], ["u(x, 0) = sin(pi*x) + 0.01", "u(0, t) = 0", "u(1, t) = 0"])
    reference = method_of_lines(p, (X01, T05), tolerance=1e-4, max_seconds=3)
    assert "the initial values miss the boundary conditions by 9.9e-03" in reference.message  # 0.01 / max |u(x, 0)|


def test_the_time_limit_is_respected():
    p = problem(["u_t + u*u_x = nu*u_xx"], ["u(x, 0) = -sin(pi*x)", "u(-1, t) = 0", "u(1, t) = 0"],
                domain="{x: [-1, 1], t: [0, 1]}", parameters="{nu: 0.01/pi}")
    started = time.perf_counter()
    reference = method_of_lines(p, (np.linspace(-1, 1, 21), np.linspace(0, 1, 11)), max_seconds=2.0)
    assert time.perf_counter() - started < 6.0
    assert not reference.success
    assert "time" in reference.message
    assert reference.accuracy > USEFUL_AGREEMENT


def test_allen_cahn_fourier_and_finite_differences_agree():
    """Two discretisations of Allen-Cahn give the same field (Fourier 2048 and finite differences 8192 points, ~3 s)."""
    from pinn.pde import lines_space, reference_lines as lines

    p = problem(["u_t = 0.0001*u_xx - 5*u^3 + 5*u"], ["u(x, 0) = x^2*cos(pi*x)", "u(-1, t) = u(1, t)", "u_x(-1, t) = u_x(1, t)"],
                domain="{x: [-1, 1], t: [0, 1]}")
    evolution = lines.read_evolution(p)
    x, t = np.linspace(-1.0, 1.0, 201), np.linspace(0.0, 1.0, 11)
    fourier = lines.solve_level(evolution, lines_space.Fourier(2048, -1.0, 1.0), x, t, 1e-10, np.inf)
    differences = lines.solve_level(evolution, lines_space.FiniteDifferences(8192, -1.0, 1.0, True), x, t, 1e-10, np.inf)
    assert lines.relative_difference(fourier.values, differences.values) < 1e-5
