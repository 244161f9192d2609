"""pinn.collocation: where the collocation points are at each Adam step.

Redraws every ``resample_every`` steps, and for initial-value problems a
window that grows from the initial point for ``training.growth`` Adam steps
in STAGES - 1 partial stages, then (stage STAGES - 1) the whole domain for the
``training.adam.steps`` after them.  TensorFlow-free, except the
command-line and end-to-end tests at the bottom.
"""

import contextlib
import io

import numpy as np
import pytest

import pinn
import pinn.problem_file
from pinn.cli import main
from pinn.collocation import MIN_STAGE_STEPS, STAGES, Schedule, adam_steps, initial_point, schedule_for
from pinn.domain import Interval
from pinn.errors import ProblemError

from conftest import problem_path

DOMAIN = Interval(0.0, 2.0)
COUNT = 16
LIMIT = 1000  # Adam steps of the runs below


def visited(schedule, limit=LIMIT):
    """The block boundaries the training loop stops at: next_change from 0 until ``limit``."""
    steps, step = [], 0
    while step < limit:
        step = schedule.next_change(step, limit)
        steps.append(step)
    return steps


def changes(schedule, limit=LIMIT):
    return [step for step in range(limit + 1) if schedule.changes_at(step)]


# ---------------------------------------------------------------- no growth, no redraws


@pytest.mark.parametrize("sampler", ["grid", "sobol", "random"])
def test_without_growth_or_redraws_nothing_changes(sampler):
    schedule = Schedule(DOMAIN, COUNT, sampler)
    assert changes(schedule, 3000) == []
    assert not any(schedule.resets_best(step) for step in range(3000))
    for step in (0, 1, 99, 100, 500, 999):
        assert schedule.next_change(step, LIMIT) == LIMIT
        assert schedule.window(step) == DOMAIN and schedule.stage(step) == STAGES - 1  # the last stage: the whole domain
    assert visited(schedule) == [LIMIT]  # one block (of at most steps_per_call steps each) to the end
    np.testing.assert_array_equal(schedule.initial(np.random.default_rng(4)),
                                  DOMAIN.sample(COUNT, sampler, np.random.default_rng(4)))


def test_growth_without_an_initial_point_changes_nothing():
    schedule = Schedule(DOMAIN, COUNT, "grid", growth_steps=800, start=None)  # a BVP: nowhere to grow from
    assert changes(schedule) == [] and visited(schedule) == [LIMIT]
    assert schedule.window(0) == DOMAIN and not any(schedule.resets_best(s) for s in range(LIMIT))


# ---------------------------------------------------------------- redraws


def test_redraws_change_the_points_at_multiples_of_resample_every():
    schedule = Schedule(DOMAIN, COUNT, "grid", resample_every=100)
    assert changes(schedule) == list(range(100, LIMIT + 1, 100))
    assert not schedule.changes_at(0)  # the initial points are drawn before step 0, not redrawn there
    assert schedule.next_change(0, LIMIT) == 100
    assert schedule.next_change(99, LIMIT) == 100
    assert schedule.next_change(100, LIMIT) == 200
    assert schedule.next_change(950, LIMIT) == LIMIT  # the next redraw would be past the end
    assert schedule.next_change(930, 950) == 950
    assert visited(schedule) == list(range(100, LIMIT + 1, 100))
    assert not any(schedule.resets_best(step) for step in range(LIMIT))  # the loss still measures the whole domain


def test_a_redrawn_grid_is_random_points_in_the_domain_of_the_same_count():
    schedule = Schedule(DOMAIN, COUNT, "grid", resample_every=100)
    initial = schedule.initial(np.random.default_rng(0))
    np.testing.assert_array_equal(initial, DOMAIN.sample(COUNT, "grid", None))
    rng = np.random.default_rng(5)
    redrawn = schedule.points(100, rng)
    np.testing.assert_array_equal(redrawn, DOMAIN.redraw(COUNT, "grid", np.random.default_rng(5)))
    assert redrawn.shape == (COUNT, 1) and np.all((redrawn >= 0.0) & (redrawn <= 2.0))
    assert not np.array_equal(redrawn, initial)
    assert not np.array_equal(schedule.points(200, rng), redrawn)  # a new draw every time


# ---------------------------------------------------------------- growth

GROWTH = 700  # Adam steps of growth: STAGES - 1 partial stages of 100 steps, then the whole domain (to LIMIT)


def growing(start=0.0, resample_every=0, sampler="grid", domain=DOMAIN, growth=GROWTH):
    return Schedule(domain, COUNT, sampler, resample_every, growth, start)


def test_the_window_grows_from_the_low_end_in_stages():
    schedule = growing(start=0.0)
    assert STAGES == 8 and schedule.stage_steps == GROWTH // (STAGES - 1) == 100
    for stage in range(STAGES - 1):  # the partial windows
        for step in (stage * 100, stage * 100 + 1, stage * 100 + 99):
            assert schedule.stage(step) == stage
            window = schedule.window(step)
            assert window.low == 0.0  # anchored at the initial point
            assert window.high == pytest.approx(2.0 * (stage + 1) / STAGES)  # each stage 1/STAGES longer
            assert window != DOMAIN
    for step in (GROWTH, GROWTH + 1, LIMIT, 10 * LIMIT):  # the last stage: the whole domain, for good
        assert schedule.stage(step) == STAGES - 1 and schedule.window(step) == DOMAIN
    # STAGES distinct windows, each longer than the last, the last the whole domain
    windows = [schedule.window(s) for s in range(0, LIMIT + 1)]
    distinct = list(dict.fromkeys((w.low, w.high) for w in windows))
    assert len(distinct) == STAGES and distinct[-1] == (0.0, 2.0)
    assert all(b[1] > a[1] for a, b in zip(distinct, distinct[1:]))


def test_the_window_grows_from_the_high_end_when_the_initial_point_is_there():
    schedule = growing(start=2.0)
    for stage in range(STAGES - 1):
        window = schedule.window(stage * 100 + 50)
        assert window.high == 2.0
        assert window.low == pytest.approx(2.0 - 2.0 * (stage + 1) / STAGES)
        assert window != DOMAIN
    assert schedule.window(GROWTH - 1) == Interval(2.0 - 2.0 * (STAGES - 1) / STAGES, 2.0)
    assert schedule.window(GROWTH) == DOMAIN


def test_the_window_grows_on_a_domain_not_starting_at_zero():
    domain = Interval(-3.0, 1.0)
    low, high = growing(start=-3.0, domain=domain), growing(start=1.0, domain=domain)
    assert low.window(0) == Interval(-3.0, -2.5) and low.window(350) == Interval(-3.0, -1.0)
    assert high.window(0) == Interval(0.5, 1.0) and high.window(350) == Interval(-1.0, 1.0)
    assert low.window(GROWTH) == high.window(GROWTH) == domain


@pytest.mark.parametrize("start", [0.0, 2.0], ids=["low end", "high end"])
@pytest.mark.parametrize("sampler", ["grid", "sobol", "random"])
def test_the_point_count_stays_and_every_point_lies_in_its_window(start, sampler):
    schedule = growing(start=start, resample_every=150, sampler=sampler)
    rng = np.random.default_rng(1)
    points = schedule.initial(rng)
    history = [(0, points)]
    for step in range(1, LIMIT):
        if schedule.changes_at(step):
            points = schedule.points(step, rng)
            history.append((step, points))
    assert len(history) > STAGES  # every stage and the redraws between
    assert {schedule.stage(step) for step, _ in history} == set(range(STAGES))  # every stage drew its points
    for step, points in history:
        window = schedule.window(step)
        assert points.shape == (COUNT, 1), step  # never a different count: no compiled step retraces
        assert np.all((points >= window.low) & (points <= window.high)), (step, window)
        assert np.all(np.diff(points[:, 0]) >= 0)
    # the first stage really trains on 1/STAGES of the domain only
    first = history[0][1]
    assert np.all(first <= 0.25) if start == 0.0 else np.all(first >= 1.75)


def test_the_points_change_at_every_stage_and_next_change_stops_there():
    schedule = growing(start=0.0)
    boundaries = [stage * 100 for stage in range(1, STAGES)]  # 100, ..., 700: the last is the whole domain
    assert boundaries[-1] == GROWTH and len(boundaries) == STAGES - 1
    assert changes(schedule) == boundaries
    assert visited(schedule) == boundaries + [LIMIT]
    for step in range(0, GROWTH):
        assert schedule.next_change(step, LIMIT) == (step // 100 + 1) * 100
    for step in (GROWTH, GROWTH + 1, LIMIT - 1):
        assert schedule.next_change(step, LIMIT) == LIMIT  # the whole domain: nothing changes any more
    assert schedule.next_change(250, 270) == 270  # never past the limit


def test_growth_and_redraws_together_stop_at_both():
    schedule = growing(start=0.0, resample_every=150)
    expected = sorted(set(range(100, GROWTH + 1, 100)) | set(range(150, LIMIT + 1, 150)))
    assert changes(schedule) == expected
    assert visited(schedule) == expected + ([LIMIT] if expected[-1] != LIMIT else [])


def test_a_training_loop_in_blocks_lands_on_every_change():
    """As pinn.adam runs it: blocks of at most steps_per_call steps, cut at next_change; points changed between."""
    schedule = growing(start=0.0, resample_every=130)
    steps_per_call, at, landed = 64, 0, set()
    while at < LIMIT:
        at += min(steps_per_call, schedule.next_change(at, LIMIT) - at)
        landed.add(at)
    assert set(changes(schedule, LIMIT - 1)) <= landed


def test_resets_best_exactly_once():
    for start in (0.0, 2.0):
        schedule = growing(start=start, resample_every=100)
        resets = [step for step in range(1, 3 * LIMIT) if schedule.resets_best(step)]
        assert len(resets) == 1, (start, resets)
        step, = resets
        assert schedule.window(step) == DOMAIN and schedule.changes_at(step)  # at a change of points
        assert schedule.window(step - 1) != DOMAIN  # not before
        assert all(schedule.window(s) == DOMAIN for s in range(step, 3 * LIMIT, 50))  # and for good
    assert not any(Schedule(DOMAIN, COUNT, "grid", 100).resets_best(s) for s in range(1, LIMIT))  # redraws alone: never


def test_resets_best_at_the_step_the_window_becomes_the_whole_domain():
    """resets_best: "True at the step where the window becomes the whole domain" (pinn/collocation.py)."""
    schedule = growing(start=0.0)
    whole = next(step for step in range(LIMIT) if schedule.window(step) == DOMAIN)
    resets = [step for step in range(1, LIMIT) if schedule.resets_best(step)]
    # the last stage (STAGES - 1) is the whole domain and starts once the growth steps are done
    assert whole == GROWTH == (STAGES - 1) * schedule.stage_steps
    assert resets == [whole], f"the window is the whole domain from step {whole}, the best loss is reset at {resets}"


def test_growth_shorter_than_the_stages_still_ends_on_the_whole_domain():
    schedule = growing(start=0.0, growth=5)  # fewer growth steps than partial stages: one step per stage
    assert schedule.stage_steps == 1
    assert schedule.window(0) == Interval(0.0, 0.25)
    assert [schedule.stage(s) for s in range(STAGES + 2)] == [*range(STAGES), STAGES - 1, STAGES - 1]
    assert [s for s in range(1, 20) if schedule.resets_best(s)] == [STAGES - 1]
    assert schedule.window(STAGES - 2) != DOMAIN and schedule.window(STAGES - 1) == DOMAIN


# ---------------------------------------------------------------- schedule_for and training.growth
#
# training.growth is a number of Adam steps, run before training.adam.steps: the Adam phase runs
# growth + adam.steps steps (pinn.collocation.adam_steps), the last adam.steps on the whole domain.


def test_schedule_for_an_ivp_grows_for_the_given_adam_steps_before_the_others():
    problem = pinn.load_problem(problem_path("decay"), ["training.growth=1400"])  # 7 partial stages of 200 steps
    assert problem.kind == "ivp" and problem.training.adam.steps == 2000
    schedule = schedule_for(problem, grow=True)
    assert schedule.growth_steps == 1400 and schedule.start == 0.0 and schedule.stage_steps == 200
    assert adam_steps(problem.training, schedule) == 3400  # 1400 growing, then 2000 on the whole domain
    assert (schedule.domain, schedule.count, schedule.sampler) == (problem.domain, problem.training.points, "grid")
    assert schedule.window(0) == Interval(0.0, 3.0 / STAGES)
    assert schedule.window(1399) != problem.domain and schedule.window(1400) == problem.domain
    shorter = pinn.load_problem(problem_path("decay"), ["training.growth=150", "training.adam.steps=300",
                                                        "training.resample_every=50"])
    schedule = schedule_for(shorter, grow=True)
    assert schedule.growth_steps == 150 and schedule.resample_every == 50
    assert adam_steps(shorter.training, schedule) == 450


def test_growth_too_short_for_its_stages_is_off():
    def growth(steps, adam=300):
        problem = pinn.load_problem(problem_path("decay"), [f"training.growth={steps}", f"training.adam.steps={adam}"])
        schedule = schedule_for(problem, grow=True)
        return schedule.growth_steps, adam_steps(problem.training, schedule)

    least = MIN_STAGE_STEPS * (STAGES - 1)  # MIN_STAGE_STEPS Adam steps in each partial stage
    assert growth(least) == (least, least + 300) and schedule_for(
        pinn.load_problem(problem_path("decay"), [f"training.growth={least}"]), grow=True).stage_steps == MIN_STAGE_STEPS
    assert growth(least - 1) == (0, 300)  # fewer: no growth, and no steps added
    assert growth(1000, adam=0) == (0, 0)  # no Adam steps on the whole domain: no Adam phase, no growth either


def test_schedule_for_grows_only_when_asked_and_growth_0_keeps_the_whole_domain():
    default = pinn.load_problem(problem_path("decay"))
    assert default.training.growth == 8000 and default.training.causal == "auto"
    assert schedule_for(default).growth_steps == 0  # auto: grown only on a second attempt (pinn.solver.solve)
    assert schedule_for(default, grow=True).growth_steps == 8000
    assert schedule_for(pinn.load_problem(problem_path("decay"), ["training.causal=on"])).growth_steps == 8000
    assert schedule_for(pinn.load_problem(problem_path("decay"), ["training.causal=off"])).growth_steps == 0
    problem = pinn.load_problem(problem_path("decay"), ["training.growth=0"])
    schedule = schedule_for(problem, grow=True)
    assert schedule.growth_steps == 0 and not schedule.growing and changes(schedule) == []
    assert adam_steps(problem.training, schedule) == problem.training.adam.steps == 2000


def test_schedule_for_a_bvp_never_grows():
    problem = pinn.load_problem(problem_path("quadratic"), ["training.growth=1000"])
    assert problem.kind == "bvp"
    schedule = schedule_for(problem, grow=True)
    assert schedule.growth_steps == 0 and schedule.start is None
    assert schedule.window(0) == problem.domain and changes(schedule) == []
    assert adam_steps(problem.training, schedule) == problem.training.adam.steps


FINAL_VALUE = """\
name: final_value
variable: t
domain: [0, 1]
equations:
  - u' = -u
conditions:
  - u(1) = 1
"""

INTERIOR = """\
name: interior
variable: t
domain: [0, 2]
equations:
  - u' = -u
conditions:
  - u(1) = 1
"""


def test_an_ivp_with_its_condition_at_the_high_end_grows_from_there():
    problem = pinn.problem_file.problem_from_text(FINAL_VALUE, ["training.growth=400", "training.adam.steps=1000"])
    assert initial_point(problem) == 1.0
    schedule = schedule_for(problem, grow=True)
    assert schedule.growth_steps == 400 and schedule.start == 1.0
    assert schedule.window(0) == Interval(1.0 - 1.0 / STAGES, 1.0)


def test_an_ivp_with_its_condition_inside_the_domain_does_not_grow():
    problem = pinn.problem_file.problem_from_text(INTERIOR, ["training.growth=500"])
    assert problem.kind == "ivp" and initial_point(problem) is None
    assert schedule_for(problem, grow=True).growth_steps == 0


def test_a_fit_to_data_does_not_grow():
    problem = pinn.load_problem(problem_path("inverse_decay"), ["training.growth=500"])
    assert initial_point(problem) is None and schedule_for(problem, grow=True).growth_steps == 0


@pytest.mark.parametrize("value, message", [
    ("1.5", "expected a whole number, got 1.5"),
    ("0.5", "expected a whole number, got 0.5"),
    ("-1", "too small: it must be at least 0"),
    ("10000001", "beyond the limit of 10,000,000"),
])
def test_growth_not_a_whole_number_of_steps_is_refused_naming_the_field(value, message):
    with pytest.raises(ProblemError, match=r"training\.growth") as caught:
        pinn.load_problem(problem_path("decay"), [f"training.growth={value}"])
    assert message in str(caught.value)


def test_growth_in_the_file_is_refused_too():
    text = problem_path("decay").read_text(encoding="utf-8") + "training:\n  growth: 1.5\n"
    with pytest.raises(ProblemError, match=r"training\.growth: expected a whole number, got 1\.5"):
        pinn.problem_file.problem_from_text(text)
    assert pinn.problem_file.problem_from_text(text.replace("1.5", "900")).training.growth == 900


def test_growth_1_5_on_the_command_line_exits_2(tmp_path):
    stdout, stderr = io.StringIO(), io.StringIO()
    out = tmp_path / "run"
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main([str(problem_path("decay")), "--out", str(out), "--set", "training.growth=1.5", "--quiet"])
    assert status == 2, stdout.getvalue() + stderr.getvalue()
    assert "training.growth" in stderr.getvalue() and "Traceback" not in stderr.getvalue()
    assert not out.exists()


# ---------------------------------------------------------------- end to end


def test_decay_solved_with_growth_is_verified():
    problem = pinn.load_problem(problem_path("decay"), ["training.causal=on", "training.growth=500", "training.adam.steps=500",
                                                        "training.lbfgs.steps=300", "training.jit_compile=false"])
    solution = pinn.solve(problem)
    # through pinn.adam: the window grows over Adam steps 0..500, the best loss is reset, 500 more Adam steps and
    # L-BFGS train on the whole domain.  Measured (seed 0): relative residual 7.6e-6 (threshold 1e-3),
    # fresh/training 0.95, error against 2 exp(-1.5 t) 3.1e-6 (threshold 1e-3)
    assert solution.training.adam_steps == 1000  # growth + adam.steps
    assert solution.verified and solution.success, solution.message
    exact = 2 * np.exp(-1.5 * solution.x)
    error = np.linalg.norm(solution.values["u"][0] - exact) / np.linalg.norm(exact)
    assert error < 1e-4  # measured 3.1e-6


def test_a_failed_ivp_is_trained_again_with_the_window_growing_from_t0():
    # the logistic equation from 1% of capacity, starved of Adam steps: the first attempt fails its check
    # (measured relative residual ~0.4), the second grows the window over 1400 Adam steps; the failed attempt is kept
    problem = pinn.load_problem(problem_path("logistic"), ["training.adam.steps=600", "training.lbfgs.steps=200",
                                                           "training.growth=1400", "training.windows=1",
                                                           "training.jit_compile=false", "verify.tolerance=1e9"])
    solution = pinn.solve(problem)
    assert len(solution.attempts) == 1 and solution.attempts[0]["status"] == "check_failed"
    assert "refined" not in solution.attempts[0]["steps"]  # the causal retry is an IVP's first repair, not refine
    assert solution.problem.training.refine == 0.5  # the problem as given
    assert solution.training.adam_steps == 2000  # growth + adam.steps: the second attempt grew
    no_retry = pinn.solve(pinn.load_problem(problem_path("logistic"), ["training.adam.steps=600", "training.lbfgs.steps=200",
                                                                      "training.causal=off", "training.refine=0", "training.windows=1",
                                                                      "training.jit_compile=false", "verify.tolerance=1e9"]))
    assert no_retry.attempts == () and no_retry.status.value == "check_failed" and no_retry.training.adam_steps == 600
