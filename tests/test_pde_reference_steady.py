"""The finite-difference reference of steady problems u(x, y) (pinn.pde.reference_steady) against closed forms.

Every solve is checked twice: the true relative L2 error on a non-nested output grid (37 x 53, so the spline
interpolation is part of what is tested) is below the tolerance asked for, and it is not larger than the
reported ``accuracy`` (the reference's own estimate must be honest).  Tolerances of 1e-6 where the default
1e-7 would need the 513 x 513 grid (several seconds each on a busy machine).
"""

import numpy as np
import pytest

from pinn import expressions as ex
from pinn.pde import reference_steady as rs
from pinn.pde import steady_system
from pinn.pde.reference_steady import ACCEPTABLE_ACCURACY, finite_differences
from pinn.problem_file import problem_from_text

UNIT = "{x: [0, 1], y: [0, 1]}"


def steady(body: str, domain: str = UNIT):
    return problem_from_text(f"variables: [x, y]\ndomain: {domain}\n{body}")


def output_grid(problem, counts=(37, 53)):
    return tuple(np.linspace(i.low, i.high, n) for i, n in zip(problem.domain.intervals, counts))


def closed_form(text: str, grid) -> np.ndarray:
    a, b = np.meshgrid(*grid, indexing="ij")
    return np.asarray(ex.evaluate(ex.parse_expression(text, ("x", "y")), {"x": a, "y": b}) + 0.0 * a)


def true_error(reference, closed: dict, grid) -> float:
    """Max over unknowns of the relative L2 error against the closed forms on the output grid."""
    errors = []
    for unknown, text in closed.items():
        exact = closed_form(text, grid)
        errors.append(np.linalg.norm(reference.values[unknown] - exact) / np.linalg.norm(exact))
    return max(errors)


def solve_and_check(body: str, closed: dict, *, tolerance=1e-7, domain=UNIT):
    """Solve, then: success, the right shapes, the true error below ``tolerance`` and within the reported accuracy."""
    problem = steady(body, domain)
    grid = output_grid(problem)
    reference = finite_differences(problem, grid, tolerance=tolerance)
    assert reference.success, reference.message
    assert set(reference.values) == set(problem.unknowns)
    assert all(v.shape == (37, 53) for v in reference.values.values())
    error = true_error(reference, closed, grid)
    assert reference.accuracy <= tolerance
    assert error <= tolerance, (error, reference.label)
    assert error <= max(reference.accuracy, 1e-12), (error, reference.accuracy)
    return reference, error


POISSON = """equations:
  - -(u_xx + u_yy) = 2*pi^2*sin(pi*x)*sin(pi*y)
conditions:
  - u(0, y) = 0
  - u(1, y) = 0
  - u(x, 0) = 0
  - u(x, 1) = 0
"""


def test_poisson_with_zero_dirichlet_edges_is_sin_sin():
    reference, _ = solve_and_check(POISSON, {"u": "sin(pi*x)*sin(pi*y)"})
    assert reference.label.startswith("finite differences: 2nd order")
    assert "Richardson" in reference.label


def test_helmholtz_with_k_4pi():
    # u = sin(pi x) sin(2 pi y): u_xx + u_yy = -5 pi^2 u, so the right side is (k^2 - 5 pi^2) u
    solve_and_check("""parameters: {k: 4*pi}
equations:
  - u_xx + u_yy + k^2*u = (k^2 - 5*pi^2)*sin(pi*x)*sin(2*pi*y)
conditions:
  - u(0, y) = 0
  - u(1, y) = 0
  - u(x, 0) = 0
  - u(x, 1) = 0
""", {"u": "sin(pi*x)*sin(2*pi*y)"})


def test_laplace_with_neumann_edges():
    # u = cosh(pi (1 - y)) sin(pi x) is harmonic; u_y(x, 1) = 0 and u_x(1, y) = -pi cosh(pi (1 - y)) (a free-variable right side)
    solve_and_check("""equations:
  - u_xx + u_yy = 0
conditions:
  - u(0, y) = 0
  - u_x(1, y) = -pi*cosh(pi*(1 - y))
  - u(x, 0) = cosh(pi)*sin(pi*x)
  - u_y(x, 1) = 0
""", {"u": "cosh(pi*(1 - y))*sin(pi*x)"}, tolerance=1e-6)


def test_nonlinear_equation_with_a_robin_edge():
    # manufactured: u = x^2 + y^2 + sin(pi x y), f = -Laplacian(u) + u^3; Robin u_y + 2 u on y = 1
    solve_and_check("""equations:
  - -(u_xx + u_yy) + u^3 = -4 + pi^2*(x^2 + y^2)*sin(pi*x*y) + (x^2 + y^2 + sin(pi*x*y))^3
conditions:
  - u(0, y) = y^2
  - u(1, y) = 1 + y^2 + sin(pi*y)
  - u(x, 0) = x^2
  - u_y(x, 1) + 2*u(x, 1) = 2 + pi*x*cos(pi*x) + 2*(x^2 + 1 + sin(pi*x))
""", {"u": "x^2 + y^2 + sin(pi*x*y)"})


def test_two_unknowns_with_a_variable_coefficient_and_a_mixed_derivative():
    # u = sin(pi x) sin(pi y), v = x y (harmonic, v_xy = 1)
    solve_and_check("""equations:
  - -(u_xx + u_yy) + (1 + x)*v = 2*pi^2*sin(pi*x)*sin(pi*y) + (1 + x)*x*y
  - -(v_xx + v_yy) + 0.5*v_xy + u = 0.5 + sin(pi*x)*sin(pi*y)
conditions:
  - u(0, y) = 0
  - u(1, y) = 0
  - u(x, 0) = 0
  - u(x, 1) = 0
  - v(0, y) = 0
  - v(1, y) = y
  - v(x, 0) = 0
  - v(x, 1) = x
""", {"u": "sin(pi*x)*sin(pi*y)", "v": "x*y"})


def test_periodic_in_x():
    # u = sin(2 pi x) exp(y) + y; -Laplacian(u) + u = 4 pi^2 sin(2 pi x) exp(y) + y
    reference, _ = solve_and_check("""equations:
  - -(u_xx + u_yy) + u = 4*pi^2*sin(2*pi*x)*exp(y) + y
conditions:
  - u(0, y) = u(1, y)
  - u_x(0, y) = u_x(1, y)
  - u(x, 0) = sin(2*pi*x)
  - u(x, 1) = e*sin(2*pi*x) + 1
""", {"u": "sin(2*pi*x)*exp(y) + y"})
    first, second = reference.label.split(", ")[1].split(" and ")
    assert first.startswith("128x") or first.startswith("64x")  # the periodic variable has no duplicate end node


def test_first_order_term_on_a_rectangle_other_than_the_unit_square():
    # u = exp(x) cos(y) is harmonic, so u_xx + u_yy + x u_x = x exp(x) cos(y)
    solve_and_check("""equations:
  - u_xx + u_yy + x*u_x = x*exp(x)*cos(y)
conditions:
  - u(0, y) = cos(y)
  - u(2, y) = exp(2)*cos(y)
  - u(x, -1) = exp(x)*cos(1)
  - u(x, 1) = exp(x)*cos(1)
""", {"u": "exp(x)*cos(y)"}, domain="{x: [0, 2], y: [-1, 1]}")


ALL_NEUMANN = """equations:
  - -(u_xx + u_yy) = 2*pi^2*cos(pi*x)*cos(pi*y)
conditions:
  - u_x(0, y) = 0
  - u_x(1, y) = 0
  - u_y(x, 0) = 0
  - u_y(x, 1) = 0
"""


def test_all_neumann_problem_is_pinned_by_its_point_condition():
    solve_and_check(ALL_NEUMANN + "  - u(0, 0) = 1\n", {"u": "cos(pi*x)*cos(pi*y)"}, tolerance=1e-6)


def test_all_neumann_problem_without_a_point_condition_fails_clearly():
    problem = steady(ALL_NEUMANN)
    reference = finite_differences(problem, output_grid(problem))
    assert not reference.success
    assert "up to a constant" in reference.message and "point condition" in reference.message
    assert np.isinf(reference.accuracy) and np.all(np.isnan(reference.values["u"]))


def test_reported_accuracy_is_honest_on_coarse_grids_too():
    # stopped early (tolerance 1e-3: three coarse grids), the true error must still be within the estimate
    problem = steady(POISSON)
    grid = output_grid(problem)
    reference = finite_differences(problem, grid, tolerance=1e-3)
    assert "33x33 and 65x65" in reference.label  # stopped at the third grid (17, 33, 65 nodes)
    error = true_error(reference, {"u": "sin(pi*x)*sin(pi*y)"}, grid)
    assert error <= reference.accuracy <= 1e-3


def test_output_on_nodes_of_the_finite_difference_grid_is_exact_at_the_boundary():
    problem = steady(POISSON)
    grid = (np.linspace(0, 1, 5), np.linspace(0, 1, 9))
    reference = finite_differences(problem, grid)
    assert reference.values["u"].shape == (5, 9)
    assert np.max(np.abs(reference.values["u"][[0, -1], :])) < 1e-12


def test_evolution_problem_is_refused():
    problem = problem_from_text("""variables: [x, t]
domain: {x: [0, 1], t: [0, 0.5]}
equations:
  - u_t = u_xx
conditions:
  - u(x, 0) = sin(pi*x)
  - u(0, t) = 0
  - u(1, t) = 0
""")
    reference = finite_differences(problem, output_grid(problem))
    assert not reference.success and "steady" in reference.message


def test_condition_on_an_interior_line_is_refused():
    problem = steady(POISSON.replace("u(1, y) = 0", "u(0.5, y) = 0"))
    reference = finite_differences(problem, output_grid(problem))
    assert not reference.success and "inside the rectangle" in reference.message


def test_time_budget_is_respected():
    problem = steady(POISSON)
    reference = finite_differences(problem, output_grid(problem), tolerance=1e-14, max_seconds=1.0)
    assert reference.seconds < 3.0
    assert "max_seconds" in reference.message or "finest" in reference.message


def test_accuracy_above_the_acceptable_level_is_not_success(monkeypatch):
    monkeypatch.setattr(rs, "MAX_INTERVALS", 32)  # two grids only (17 and 33 nodes): no Richardson, about 1e-3
    problem = steady(POISSON)
    reference = finite_differences(problem, output_grid(problem))
    assert "17x17 and 33x33" in reference.label and "Richardson" not in reference.label
    assert reference.accuracy > ACCEPTABLE_ACCURACY and not reference.success
    assert "more than" in reference.message and np.all(np.isfinite(reference.values["u"]))


# ------------------------------------------------------------------ the pieces


def test_stencil_weights_are_the_classical_ones():
    assert np.allclose(steady_system.stencil_weights([-1, 0, 1], 2), [1, -2, 1])
    assert np.allclose(steady_system.stencil_weights([-1, 0, 1], 1), [-0.5, 0, 0.5])
    assert np.allclose(steady_system.stencil_weights([0, 1, 2], 1), [-1.5, 2, -0.5])
    assert np.allclose(steady_system.stencil_weights([0, 1, 2, 3], 2), [2, -5, 4, -1])


@pytest.mark.parametrize("order", [1, 2])
def test_derivative_matrices_are_exact_on_quadratics_and_wrap_when_periodic(order):
    axis = steady_system.Axis("x", 0.0, 2.0, 8, False)
    x = axis.nodes
    exact = {1: 2 * x - 1, 2: 2 + 0 * x}[order]
    assert np.allclose(axis.derivative(order) @ (x ** 2 - x), exact)  # inside and, one-sided, at the ends
    # the one-sided ends have order + 4 points: exact on degree order + 3, not on degree order + 4
    exact_degree, inexact_degree = order + 3, order + 4
    derivative = np.polynomial.polynomial.polyder
    for degree, exact_there in ((exact_degree, True), (inexact_degree, False)):
        coefficients = np.zeros(degree + 1)
        coefficients[-1] = 1.0
        ends = (axis.derivative(order) @ x ** degree - np.polynomial.polynomial.polyval(x, derivative(coefficients, order)))[[0, -1]]
        assert np.allclose(ends, 0.0, atol=1e-9) == exact_there
    periodic = steady_system.Axis("x", 0.0, 2 * np.pi, 64, True)
    s = periodic.nodes
    expected = np.cos(s) if order == 1 else -np.sin(s)
    assert np.max(np.abs(periodic.derivative(order) @ np.sin(s) - expected)) < 2e-3


def test_relative_l2_of_equal_zero_fields_is_zero():
    assert rs.relative_l2(np.zeros(3), np.zeros(3)) == 0.0
    assert rs.relative_l2(np.ones(4), 2 * np.ones(4)) == pytest.approx(0.5)
