"""Which conditions are built into the network's output (Taylor or Lagrange form), which are penalised."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pinn.constraints import output_scales, split_conditions
from pinn.expressions import Number
from pinn.problem_file import load_problem, problem_from_dict

REPO = Path(__file__).resolve().parent.parent


def split(problem):
    return split_conditions(problem.conditions, problem.unknowns, problem.orders)


def problem(equations, conditions, domain=(0, 1), **more):
    return problem_from_dict({"domain": list(domain), "equations": equations, "conditions": conditions, **more})


def test_second_order_ivp_gives_one_taylor_form():
    built, left_over = split(problem(["y'' + y = 0"], ["y(0) = 1", "y'(0) = 0"]))
    assert left_over == []
    assert set(built) == {"y"}
    form = built["y"]
    assert form.form == "taylor"
    assert form.orders == (0, 1)
    assert form.points == (0.0, 0.0)
    assert form.values == (Number(1.0), Number(0.0))
    assert form.locations == ("conditions[0]", "conditions[1]")


def test_taylor_orders_are_sorted_whatever_the_order_written():
    built, left_over = split(problem(["y'' + y = 0"], ["y'(0) = 0", "y(0) = 1"]))
    assert left_over == []
    assert built["y"].form == "taylor"
    assert built["y"].orders == (0, 1)
    assert built["y"].locations == ("conditions[1]", "conditions[0]")


def test_taylor_form_away_from_the_start():
    built, left_over = split(problem(["y'' + y = 0"], ["y(1) = 1", "y'(1) = 0"]))
    assert left_over == []
    assert built["y"].form == "taylor" and built["y"].points == (1.0, 1.0)


def test_dirichlet_bvp_gives_lagrange_with_two_points():
    built, left_over = split(load_problem(REPO / "problems" / "quadratic.yaml"))
    assert left_over == []
    form = built["y"]
    assert form.form == "lagrange"
    assert form.points == (0.0, 1.0)
    assert form.orders == (0, 0)
    assert form.values == (Number(0.0), Number(1.0))


def test_three_point_lagrange():
    built, left_over = split(problem(["y''' = 0"], ["y(0) = 0", "y(0.5) = 1", "y(1) = 0"]))
    assert left_over == []
    assert built["y"].form == "lagrange" and built["y"].points == (0.0, 0.5, 1.0)


def test_robin_condition_is_left_over():
    conditions = problem(["y'' = y"], ["y(0) = 1", "y'(1) + 2*y(1) = 0"])
    built, left_over = split(conditions)
    assert [c.location for c in left_over] == ["conditions[1]"]
    assert left_over[0].source == "y'(1) + 2*y(1) = 0"
    assert built["y"].points == (0.0,) and built["y"].orders == (0,)


def test_neumann_and_dirichlet_at_different_points_builds_one_and_penalises_one():
    built, left_over = split(problem(["y'' = 2"], ["y'(0) = 0", "y(1) = 1"]))
    assert len(left_over) == 1
    assert built["y"].points == (1.0,) and built["y"].orders == (0,)
    assert left_over[0].location == "conditions[0]"


def test_periodic_conditions_are_left_over():
    built, left_over = split(problem(["y'' + y = sin(2*x)"], ["y(0) = y(2*pi)", "y'(0) = y'(2*pi)"], domain=(0, "2*pi")))
    assert built == {}
    assert [c.location for c in left_over] == ["conditions[0]", "conditions[1]"]


def test_lotka_volterra_gives_two_taylor_forms():
    built, left_over = split(load_problem(REPO / "problems" / "lotka_volterra.yaml"))
    assert left_over == []
    assert set(built) == {"u", "v"}
    for unknown, value in (("u", 10.0), ("v", 5.0)):
        form = built[unknown]
        assert form.unknown == unknown
        assert form.form == "taylor"
        assert form.points == (0.0,) and form.orders == (0,)
        assert form.values == (Number(value),)


def test_values_may_hold_parameters():
    built, _ = split(problem(["y'' = 2"], ["y(0) = a", "y(1) = 2*a"], parameters={"a": 3}))
    assert [type(v).__name__ for v in built["y"].values] == ["Name", "Binary"]


def test_a_repeated_point_value_is_built_in_once():
    quadratic = load_problem(REPO / "problems" / "quadratic.yaml")
    conditions = quadratic.conditions + quadratic.conditions[:1]  # y(0) = 0 given twice
    built, left_over = split_conditions(conditions, quadratic.unknowns, quadratic.orders)
    assert built["y"].points == (0.0, 1.0)
    assert left_over == [conditions[2]]


def test_output_scales():
    quadratic = load_problem(REPO / "problems" / "quadratic.yaml")
    built, _ = split(quadratic)
    assert output_scales(quadratic.unknowns, built, quadratic.length, quadratic.constants) == {"y": 1.0}
    lv = load_problem(REPO / "problems" / "lotka_volterra.yaml")
    built, _ = split(lv)
    assert output_scales(lv.unknowns, built, lv.length, lv.constants) == {"u": 10.0, "v": 5.0}
    ivp = problem(["y'' = 0"], ["y(0) = 0", "y'(0) = 3"], domain=(0, 2))
    built, _ = split(ivp)
    assert output_scales(ivp.unknowns, built, ivp.length, ivp.constants) == {"y": pytest.approx(6.0)}  # |3| * L^1 / 1!
    assert output_scales(("y",), {}, 1.0, {}, {"y": [0.5, -40.0, math.nan]}) == {"y": 40.0}
