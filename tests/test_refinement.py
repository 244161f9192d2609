"""The phase refine: points move to where the residual is largest, only when the residual between them says so."""

import numpy as np
import pytest

import pinn
from pinn.domain import Interval
from pinn.refinement import TRIGGER, needs_refinement, refined_points

from conftest import UNCHECKED, problem_path


def test_refined_points_keep_the_count_the_ends_and_follow_the_residual():
    current = Interval(0.0, 1.0).sample(64, "grid", np.random.default_rng(0))
    candidates = Interval(0.0, 1.0).fresh(1024)
    squares = np.where(candidates[:, 0] < 0.1, 1.0, 1e-6)  # all the residual in [0, 0.1)
    new = refined_points(current, candidates, squares, 0.5, np.random.default_rng(1))
    assert new.shape == (64, 1)
    assert np.all(np.diff(new[:, 0]) >= 0)
    assert new[0, 0] == 0.0 and new[-1, 0] == 1.0  # the kept half is spread evenly, ends included
    # 32 kept points spread evenly put ~3 in [0, 0.1); the 32 drawn ones go there with probability
    # (1/mean + 1) / sum: about 0.1 * 1024 candidates of weight ~10 against 922 of weight ~1, so ~17 of 32
    assert np.sum(new[:, 0] < 0.1) >= 12


def test_refined_points_are_reproducible_and_a_flat_residual_spreads_them():
    current = Interval(-1.0, 2.0).sample(32, "grid", np.random.default_rng(0))
    candidates = Interval(-1.0, 2.0).fresh(512)
    first = refined_points(current, candidates, np.ones(512), 0.5, np.random.default_rng(3))
    again = refined_points(current, candidates, np.ones(512), 0.5, np.random.default_rng(3))
    assert np.array_equal(first, again)
    assert first.min() >= -1.0 and first.max() <= 2.0
    assert np.unique(first).size == 32


def test_non_finite_residuals_count_as_the_largest():
    current = Interval(0.0, 1.0).sample(16, "grid", np.random.default_rng(0))
    candidates = Interval(0.0, 1.0).fresh(256)
    squares = np.full(256, 1e-8)
    squares[:8] = np.nan
    new = refined_points(current, candidates, squares, 0.5, np.random.default_rng(0))
    assert np.all(np.isfinite(new))
    # a NaN counts as the largest finite square (1e-8, all equal here): those points are as likely as any, no more
    assert new.shape == (16, 1)


@pytest.mark.parametrize("outside, inside, moves", [
    (1.0, 1.0, False), (TRIGGER**2 * 0.99, 1.0, False), (TRIGGER**2 * 1.01, 1.0, True), (np.inf, 1.0, True), (0.0, 0.0, False),
])
def test_points_move_only_when_the_residual_between_them_is_trigger_times_larger(outside, inside, moves):
    assert needs_refinement(np.array([outside]), np.array([inside])) is moves


def _boundary_layer(*extra):
    return pinn.load_problem(problem_path("boundary_layer"), ["training.adam.steps=1000", "training.lbfgs.steps=300",
                                                              "training.jit_compile=false", *extra])


def test_refinement_fixes_the_boundary_layer_the_grid_alone_overfits():
    # without refine L-BFGS fits the 128 grid points and not the layer between them: the check fails on the
    # fresh/training residual ratio; with it 64 points move into the layer and L-BFGS runs again
    without = pinn.solve(_boundary_layer("training.refine=0"))
    refined = pinn.solve(_boundary_layer())
    moved = [p for p in refined.training.phases if p.name == "refine"]
    assert moved and moved[0].steps > 0 and moved[0].stop.startswith("moved 64 collocation points")
    figure = lambda s, kind: next(c for c in s.verification.checks if c.kind == kind).figure  # noqa: E731
    # measured (Adam 1000, L-BFGS 300): fresh/training ratio 78 without, 1.4 with; the relative residual falls too
    assert figure(without, "generalisation") > 10 * figure(refined, "generalisation")
    assert figure(without, "residual") > 3 * figure(refined, "residual")


def test_a_problem_whose_points_suffice_is_not_touched():
    overrides = ["training.adam.steps=300", "training.lbfgs.steps=50", "training.jit_compile=false", *UNCHECKED]
    problem = pinn.load_problem(problem_path("quadratic"), overrides)
    assert problem.training.phases == ("adam", "lbfgs", "refine")
    with_phase = pinn.solve(problem)
    without = pinn.solve(pinn.load_problem(problem_path("quadratic"), overrides + ["training.phases=[adam,lbfgs]"]))
    assert [p.name for p in with_phase.training.phases] == ["adam", "lbfgs"]  # refine did nothing and left no record
    assert with_phase.status == without.status
    assert np.array_equal(with_phase.values["y"], without.values["y"])  # bit for bit: nothing changed
