"""Subdomains (pinn.subdomains): the option, the system on [0, 1], training together, the interface check, save and load.

Training is short (no XLA); the closed forms are polynomials a 1-32-32-N
network reaches well within the checks' tolerances.  Accuracy on long BVPs
(many oscillations, thin layers) is measured in benchmarks/long_bvp.py.
"""

import numpy as np
import pytest

import pinn
from pinn import expressions as ex
from pinn.errors import ProblemError
from pinn.problem_file import problem_from_dict
from pinn.saved import load_solution
from pinn.subdomains import boundaries, interface_jumps, piece_name, subdomain_system

TRAINING = {"adam": {"steps": 500}, "lbfgs": {"steps": 300}, "jit_compile": False, "points": 64}


def quadratic(subdomains=3, conditions=("y(0) = 0", "y(1) = 1"), **training):
    """y'' = 2 on [0, 1]: exact x^2."""
    return problem_from_dict({
        "name": "quadratic", "domain": [0, 1], "equations": ["y'' = 2"], "conditions": list(conditions),
        "exact": {"y": "x^2"}, "network": {"hidden": [32, 32]},
        "training": {**TRAINING, "subdomains": subdomains, **training}, "output": {"points": 101},
    })


def relative_l2(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


def test_the_option_reads_a_count_and_boundaries():
    assert quadratic(1).training.subdomains == 1 and boundaries(quadratic(1)) is None
    assert boundaries(quadratic(4)) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert boundaries(quadratic([0, 0.1, 1])) == (0.0, 0.1, 1.0)


@pytest.mark.parametrize("document, fault", [
    ({"subdomains": [0, 0.5, 0.2, 1]}, "do not increase"),
    ({"subdomains": [0, 0.5]}, "run from 0 to 0.5, but the domain is [0, 1]"),
    ({"subdomains": "many"}, "expected a number of subdomains or a list of boundaries"),
    ({"subdomains": 0}, "too small"),
    ({"subdomains": 1000}, "beyond the limit"),
])
def test_bad_subdomains_are_refused_with_a_fix(document, fault):
    with pytest.raises(ProblemError) as caught:
        quadratic(**document) if "subdomains" not in document else quadratic(document["subdomains"])
    assert fault in str(caught.value) and "training.subdomains" in str(caught.value)


def test_subdomains_are_refused_for_an_initial_value_problem():
    with pytest.raises(ProblemError, match="subdomains split a boundary-value problem") as caught:
        problem_from_dict({"name": "ivp", "domain": [0, 1], "equations": ["y' = -y"], "conditions": ["y(0) = 1"],
                           "training": {"subdomains": 2}})
    assert "training.windows" in str(caught.value)  # the fix names what an IVP uses


def test_the_system_has_a_piece_per_subdomain_and_continuity_to_order_minus_one():
    system = subdomain_system(quadratic(3), (0.0, 0.2, 0.5, 1.0))
    assert system.unknowns == tuple(piece_name("y", i) for i in range(3)) and system.domain == (0.0, 1.0)
    assert len(system.equations) == 3
    interfaces = [c for c in system.conditions if c.location.startswith("interface")]
    assert len(interfaces) == 4  # y and y' at each of the two interfaces
    assert {c.points for c in interfaces} == {(0.0, 1.0)}
    # the problem's conditions, built in on the first and last pieces at s = 0 and s = 1
    fixed = [c.fixed for c in system.conditions if c.fixed is not None]
    assert [(f.unknown, f.order, f.point) for f in fixed] == [("y:0", 0, 0.0), ("y:2", 0, 1.0)]
    # y'(x) = y_i'(s) / h_i: the interface at 0.5 joins h = 0.3 to h = 0.5, so y_1'(1) = (0.3 / 0.5) y_2'(0)
    slope = [c for c in interfaces if c.source.startswith("y' continuous at x = 0.5")][0]
    assert isinstance(slope.equation.right, ex.Binary) and slope.equation.right.left.value == pytest.approx(0.6)


def test_pieces_trained_together_give_the_closed_form_and_join_smoothly():
    problem = quadratic([0, 0.2, 0.5, 1], phases=["adam", "lbfgs", "lm"], lm={"steps": 50})
    solution = pinn.solve(problem, progress=False)
    x = solution.x
    assert relative_l2(solution.values["y"][0], x**2) < 1e-4
    assert relative_l2(solution.values["y"][1], 2 * x) < 1e-3
    assert solution.success and solution.verification.passed, solution.message
    assert any(c.name == "interface jump" for c in solution.verification.checks)
    for at, unknown, order, jump, scale in interface_jumps(problem, solution.model):
        assert abs(jump) < 1e-4 * scale, (at, order, jump)
    assert solution.evaluate(np.array([0.2, 0.5]))["y"] == pytest.approx([0.04, 0.25], abs=1e-4)
    assert solution.evaluate(np.array([0.2, 0.5]), 1)["y"] == pytest.approx([0.4, 1.0], abs=1e-3)


def test_a_derivative_condition_is_scaled_into_its_piece():
    # y'' = 2, y(0) = 0, y'(1) = 2: x^2 again, the slope given on a piece of width 0.8
    solution = pinn.solve(quadratic([0, 0.2, 1], conditions=("y(0) = 0", "y'(1) = 2")), progress=False)
    assert relative_l2(solution.values["y"][0], solution.x**2) < 1e-3, solution.message


def test_an_untrained_decomposition_fails_its_interface_check():
    solution = pinn.solve(quadratic(4, adam={"steps": 2}, lbfgs={"steps": 0}), progress=False)
    interface = [c for c in solution.verification.checks if c.name == "interface jump"][0]
    assert not interface.passed and "4 subdomains" in interface.detail
    assert solution.status.value == "check_failed" and "interface jump" in solution.message


def test_a_decomposed_solution_saves_and_reloads(tmp_path):
    problem = quadratic(3, adam={"steps": 50}, lbfgs={"steps": 0})
    solution = pinn.solve(problem, progress=False)
    folder = solution.save(tmp_path / "model")
    loaded = load_solution(folder)
    np.testing.assert_allclose(loaded.values["y"], solution.values["y"], atol=1e-12)
    assert [c.name for c in loaded.verification.checks] == [c.name for c in solution.verification.checks]


def test_subdomains_are_refused_in_two_variables():
    from conftest import problem_path

    with pytest.raises(ProblemError, match="subdomains are for boundary-value problems in one variable"):
        pinn.load_problem(problem_path("poisson"), ["training.subdomains=2"])


def test_the_plot_marks_the_interfaces_and_a_crowded_legend_names_only_the_total(tmp_path):
    from pinn import report

    solution = pinn.solve(quadratic([0, 0.2, 0.5, 1], adam={"steps": 20}, lbfgs={"steps": 0}), progress=False)
    assert report._boundaries(solution) == [0.2, 0.5]
    run = pinn.run_problem(quadratic(8, adam={"steps": 20}, lbfgs={"steps": 0}), out=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "plot.png").is_file() and len(run.solution.history) - 2 > report.LEGEND_TERMS
