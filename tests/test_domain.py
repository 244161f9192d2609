"""pinn.domain: the interval's samplers, output grid, fresh points and scaling, against closed forms."""

import numpy as np
import pytest

from pinn.domain import REDRAW, SAMPLERS, Interval


def test_the_grid_sampler_is_evenly_spaced_with_both_ends():
    points = Interval(-1.0, 3.0).sample(5, "grid", np.random.default_rng(0))
    np.testing.assert_array_equal(points, [[-1.0], [0.0], [1.0], [2.0], [3.0]])


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_stays_inside_and_is_sorted_and_seeded(sampler):
    domain = Interval(2.0, 5.0)
    first = domain.sample(64, sampler, np.random.default_rng(7))
    again = domain.sample(64, sampler, np.random.default_rng(7))
    assert first.shape == (64, 1)
    assert np.all((first >= 2.0) & (first <= 5.0))
    assert np.all(np.diff(first[:, 0]) >= 0)
    np.testing.assert_array_equal(first, again)  # same seed, same points


def test_redraws_replace_a_grid_by_random_points():
    assert REDRAW == {"grid": "random", "sobol": "sobol", "random": "random"}
    domain = Interval(0.0, 1.0)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(domain.redraw(8, "grid", rng), domain.sample(8, "random", np.random.default_rng(3)))


def test_an_unknown_sampler_names_the_choices():
    with pytest.raises(ValueError, match="grid, sobol, random"):
        Interval(0.0, 1.0).sample(4, "latin", np.random.default_rng(0))


def test_output_grid_fresh_points_and_scaling():
    domain = Interval(1.0, 3.0)
    np.testing.assert_array_equal(domain.grid(3), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(domain.between(3), [[1.5], [2.5]])  # midpoints: never grid training points
    np.testing.assert_array_equal(domain.to_unit(np.array([1.0, 2.0, 3.0])), [-1.0, 0.0, 1.0])
    assert (domain.length, domain.center, domain.half_width, domain.dimension) == (2.0, 2.0, 1.0, 1)


def test_an_interval_still_reads_as_a_pair():
    low, high = Interval(0.0, 2.0)
    assert (low, high) == (0.0, 2.0)
    assert Interval(0.0, 2.0)[1] == 2.0 and len(Interval(0.0, 2.0)) == 2
    assert str(Interval(0.0, 6.283185307179586)) == "[0, 6.28319]"
