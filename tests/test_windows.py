"""Time windows (pinn.windows): the option, the march, continuity at the boundaries, the auto controller, save and load.

Training here is short (tens of steps, no XLA): these tests check the
march's structure, which holds whatever the accuracy (the initial values are
built in exactly), and the controller's decisions, driven by a stand-in
verdict.  Accuracy over long horizons is measured in benchmarks/windows.py.
"""

import dataclasses
import json

import numpy as np
import pytest

import pinn
from pinn import windows as windows_module
from pinn.errors import ProblemError
from pinn.problem_file import problem_from_dict
from pinn.verification import Check, Verification

SHORT = {"adam": {"steps": 40}, "lbfgs": {"steps": 10}, "window_phases": ["adam"], "jit_compile": False}


def oscillator(**training):
    """y'' + y = 0, y(0) = 1, y'(0) = 0 on [0, 3]: exact cos t."""
    return problem_from_dict({
        "name": "oscillator", "variable": "t", "domain": [0, 3], "equations": ["y'' + y = 0"],
        "conditions": ["y(0) = 1", "y'(0) = 0"], "exact": {"y": "cos(t)"},
        "training": {**SHORT, **training}, "output": {"points": 61},
    })


def test_windows_option_reads_auto_a_count_and_boundaries():
    default = problem_from_dict({"name": "d", "domain": [0, 1], "equations": ["y' = -y"], "conditions": ["y(0) = 1"]})
    assert default.training.windows == "auto" and default.training.window_phases == ("adam", "lm")
    assert oscillator(window_phases=["adam", "lbfgs"]).training.window_phases == ("adam", "lbfgs")
    assert oscillator(windows=3).training.windows == 3
    assert oscillator(windows="2").training.windows == 2
    assert oscillator(windows=[0, 1, "pi/2", 3]).training.windows == (0.0, 1.0, np.pi / 2, 3.0)
    assert windows_module.explicit_boundaries(oscillator(windows=3)) == (0.0, 1.0, 2.0, 3.0)
    assert windows_module.explicit_boundaries(oscillator(windows=1)) is None


@pytest.mark.parametrize("windows, fault", [
    ([0, 2, 1, 3], "do not increase"),
    ([0, 1, 2], "run from 0 to 2, but the domain is [0, 3]"),
    ("many", "expected auto, a number of windows or a list of boundaries"),
    (0, "too small"),
    (10_000, "beyond the limit"),
])
def test_bad_windows_are_refused_with_a_fix(windows, fault):
    with pytest.raises(ProblemError) as caught:
        oscillator(windows=windows)
    assert fault in str(caught.value) and "training.windows" in str(caught.value)


def test_windows_are_refused_where_they_cannot_march():
    boundary_value = {"name": "bvp", "domain": [0, 1], "equations": ["y'' = 2"], "conditions": ["y(0) = 0", "y(1) = 1"],
                      "training": {"windows": 2}}
    with pytest.raises(ProblemError, match="initial-value problem from the start of the domain"):
        problem_from_dict(boundary_value)
    inverse = {"name": "inverse", "domain": [0, 1], "parameters": {"k": {"initial": 1.0, "trainable": True}},
               "equations": ["y' = -k*y"], "conditions": ["y(0) = 1"], "data": {"x": [0.5, 1.0], "y": [0.7, 0.5]},
               "training": {"windows": 2}}
    with pytest.raises(ProblemError, match="trainable parameters"):
        problem_from_dict(inverse)


def test_a_march_is_continuous_to_order_minus_one_at_every_boundary():
    solution = pinn.solve(oscillator(windows=3), progress=False)
    assert len(solution.windows) == 3 and [w.low for w in solution.windows] == [0.0, 1.0, 2.0]
    assert solution.training.summary() == "120 Adam"  # each window runs training.window_phases, not phases
    for boundary in (1.0, 2.0):
        before = solution.evaluate([boundary - 1e-13], order=1)["y"]
        for order in (0, 1):  # y and y' continuous: built in exactly (round-off, and 1e-13 of slope)
            left = solution.derivatives(np.array([boundary * (1 - 1e-15)]), 1)["y"][order, 0]
            right = solution.derivatives(np.array([boundary]), 1)["y"][order, 0]
            assert abs(left - right) < 1e-9, (boundary, order, left, right)
        assert before.shape == (1,)
    # the window that starts at a boundary holds the previous window's end values as its initial values
    assert solution.windows[1].start["y"][0] == pytest.approx(solution.evaluate([1.0])["y"][0], abs=1e-12)


def test_a_march_is_one_solution_with_its_checks_and_files(tmp_path):
    run = pinn.run_problem(oscillator(windows=[0, 1.5, 3]), tmp_path / "run", progress=False)
    solution = run.solution
    assert solution.x[0] == 0.0 and solution.x[-1] == 3.0 and solution.values["y"].shape == (3, 61)
    names = [c.name for c in solution.verification.checks]
    assert "windows failing their own checks" in names and any("against the exact" in n for n in names)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [w["low"] for w in metrics["windows"]] == [0.0, 1.5]
    assert metrics["steps"] == sum(w.steps for w in solution.windows)
    loaded = pinn.load_solution(tmp_path / "run")
    assert loaded.windows == solution.windows
    x = np.linspace(0, 3, 13)
    np.testing.assert_array_equal(loaded.evaluate(x, 2)["y"], solution.evaluate(x, 2)["y"])


def test_the_same_seed_gives_the_same_march():
    first = pinn.solve(oscillator(windows=2), progress=False)
    second = pinn.solve(oscillator(windows=2), progress=False)
    assert first.windows == tuple(dataclasses.replace(w, seconds=f.seconds) for w, f in zip(second.windows, first.windows))
    np.testing.assert_array_equal(first.values["y"], second.values["y"])


def test_windowed_model_takes_each_point_from_its_own_window():
    solution = pinn.solve(oscillator(windows=2), progress=False)
    model = solution.model
    x = np.array([0.0, 0.7, 1.5, 2.2, 3.0])
    from pinn.solution import evaluate_model

    whole = evaluate_model(model, ("y",), x, 2)["y"]
    for index, piece in enumerate(model.pieces):
        mine = (x >= model.boundaries[index]) & ((x < model.boundaries[index + 1]) | (index == len(model.pieces) - 1))
        own = evaluate_model(piece, ("y",), x[mine], 2)["y"]
        np.testing.assert_array_equal(whole[:, mine], own)


def quick(problem):
    """The fewest steps that still train: the controller's decisions come from the stand-in verdict."""
    training = dataclasses.replace(problem.training, adam=dataclasses.replace(problem.training.adam, steps=5),
                                   lbfgs=dataclasses.replace(problem.training.lbfgs, steps=0), phases=("adam",),
                                   window_phases=("adam",))
    return dataclasses.replace(problem, training=training)


def _verdict_by_length(longest_passing: float, calls: list):
    """A stand-in for a window's check: it passes (easily) iff the window is at most ``longest_passing`` long."""
    real = windows_module._train_window

    def train_window(problem, low, high, start, index, progress):
        trained = real(problem, low, high, start, index, progress)
        calls.append((low, high))
        passed = high - low <= longest_passing + 1e-12
        check = Check("equation[0] relative residual", "residual", 1e-9 if passed else 1.0, 1e-3, passed, "")
        return dataclasses.replace(trained, verification=Verification((check,)))
    return train_window


def test_auto_splits_a_failing_window_and_grows_after_easy_ones(monkeypatch):
    calls = []
    monkeypatch.setattr(windows_module, "_train_window", _verdict_by_length(1.0, calls))
    problem = quick(oscillator())
    solution = windows_module.march(problem)
    lows = [w.low for w in solution.windows]
    # 3/8 passes easily -> 3/4 -> 3/2 fails, halved to 3/4 (no growth after a split) -> 3/4 -> the 3/8 left
    np.testing.assert_allclose(lows, [0.0, 0.375, 1.125, 1.875, 2.625])
    assert solution.windows[-1].high == 3.0
    assert [w.attempts for w in solution.windows] == [1, 1, 2, 1, 1]
    np.testing.assert_allclose(calls[2], (1.125, 2.625))  # the rejected window, before its halving
    again = []
    monkeypatch.setattr(windows_module, "_train_window", _verdict_by_length(1.0, again))
    assert [w.low for w in windows_module.march(problem).windows] == lows  # the same seed, the same windows


def test_auto_keeps_a_window_that_never_passes_covers_the_rest_with_one_and_fails(monkeypatch):
    monkeypatch.setattr(windows_module, "MAX_HALVINGS", 1)
    monkeypatch.setattr(windows_module, "_train_window", _verdict_by_length(0.0, []))
    solution = windows_module.march(quick(oscillator()))
    assert not solution.success and solution.status.value == "check_failed"
    np.testing.assert_allclose([(w.low, w.high) for w in solution.windows], [(0.0, 0.1875), (0.1875, 3.0)])
    assert [w.attempts for w in solution.windows] == [2, 1] and not any(w.passed for w in solution.windows)
    assert "windows failing their own checks" in solution.message


def test_auto_marches_only_after_one_window_failed(monkeypatch):
    marched = []
    monkeypatch.setattr(windows_module, "march", lambda problem, progress=None, earlier=(): marched.append(earlier) or None)
    solved = pinn.solve(oscillator(adam={"steps": 300}, lbfgs={"steps": 300}), progress=False)
    assert solved.success and not solved.windows and not marched  # one window solves it: no march
    pinn.solve(oscillator(adam={"steps": 2}, lbfgs={"steps": 0}, growth=0), progress=False)  # no growth: no causal retry
    assert len(marched) == 1 and marched[0][0]["repair"] == "windows" and marched[0][0]["status"] == "check_failed"


def test_auto_tries_the_causal_retry_before_the_march(monkeypatch):
    marched = []
    monkeypatch.setattr(windows_module, "march", lambda problem, progress=None, earlier=(): marched.append(earlier) or None)
    pinn.solve(oscillator(adam={"steps": 2}, lbfgs={"steps": 0}, growth=70), progress=False)
    assert len(marched) == 1 and [a["repair"] for a in marched[0]] == ["causal", "windows"]
    assert marched[0][1]["causal"] and not marched[0][0]["causal"]


def test_vectorized_members_on_explicit_windows_equal_their_separate_marches():
    """Adam only: each stacked member's march is its separate march (weights, windows, start values) to round-off."""
    from pinn.vectorized import solve_vectorized, vectorize_problem_reason

    members = [oscillator(windows=3, seed=seed) for seed in (0, 1)]
    assert vectorize_problem_reason(members) is None and vectorize_problem_reason([oscillator()] * 2) is None
    stacked = solve_vectorized(members, progress=False)
    for problem, solution in zip(members, stacked):
        separate = pinn.solve(problem, progress=False)
        assert [(w.low, w.high) for w in solution.windows] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
        np.testing.assert_allclose(solution.values["y"], separate.values["y"], atol=1e-10)
        for mine, theirs in zip(solution.windows[1:], separate.windows[1:]):
            np.testing.assert_allclose(mine.start["y"], theirs.start["y"], atol=1e-10)
        assert solution.windows[1].start != stacked[1 - members.index(problem)].windows[1].start  # each its own start


def test_vectorized_members_on_different_windows_are_refused():
    from pinn.vectorized import vectorize_problem_reason

    assert "training.windows differs between members" in vectorize_problem_reason([oscillator(windows=3), oscillator(windows=2)])


