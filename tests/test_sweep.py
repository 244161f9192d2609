"""``--sweep KEY=VALUES`` (``pinn.sweep``): reading the values, their product, the run labels.

Pure text handling: no TensorFlow, no files.
"""

import pytest

from pinn.errors import ProblemError
from pinn.batch.sweep import MAX_SWEEP_VALUES, Sweep, parse_sweep, point_label, sweep_points


# ------------------------------------------------------------------ parse_sweep: values


@pytest.mark.parametrize("text, key, values", [
    # lists, kept in the given order, items stripped of spaces
    ("parameters.k=0.5,1,2", "parameters.k", ("0.5", "1", "2")),
    ("parameters.k = 2, 1 ,0.5", "parameters.k", ("2", "1", "0.5")),
    ("network.activation=tanh,sin", "network.activation", ("tanh", "sin")),
    # integer ranges: both ends included
    ("training.seed=0:4", "training.seed", ("0", "1", "2", "3", "4")),
    ("training.seed=3:3", "training.seed", ("3",)),
    ("training.seed=0:6:2", "training.seed", ("0", "2", "4", "6")),
    ("training.seed=0:5:2", "training.seed", ("0", "2", "4")),          # the stop is included only when reached
    ("training.seed=4:0:-2", "training.seed", ("4", "2", "0")),         # a negative step counts down
    ("parameters.k=-2:1", "parameters.k", ("-2", "-1", "0", "1")),
    # float ranges with a step
    ("parameters.k=0.5:2:0.5", "parameters.k", ("0.5", "1.0", "1.5", "2.0")),
    ("parameters.k=-1:1:0.5", "parameters.k", ("-1.0", "-0.5", "0.0", "0.5", "1.0")),
    ("parameters.k=0:1:0.25", "parameters.k", ("0.0", "0.25", "0.5", "0.75", "1.0")),
    ("parameters.k=0:3:1.0", "parameters.k", ("0.0", "1.0", "2.0", "3.0")),  # a '.' makes it a float range
    # a stop reached only up to rounding is still included (0.3 / 0.1 = 2.9999999999999996)
    ("parameters.k=0:0.3:0.1", "parameters.k", ("0.0", "0.1", "0.2", "0.3")),
    ("parameters.k=0.1:0.7:0.2", "parameters.k", ("0.1", "0.3", "0.5", "0.7")),
    ("parameters.k=1:0:-0.25", "parameters.k", ("1.0", "0.75", "0.5", "0.25", "0.0")),
    # a single value
    ("parameters.k=0.5", "parameters.k", ("0.5",)),
    ("training.seed=7", "training.seed", ("7",)),
    # values that look like YAML are kept as text (the loader reads them)
    ("network.hidden=[16]", "network.hidden", ("[16]",)),
    ("training.jit_compile=true,false", "training.jit_compile", ("true", "false")),
    ("training.adam.learning_rate=1e-3,2e-3", "training.adam.learning_rate", ("1e-3", "2e-3")),
    ("parameters.k=pi/2", "parameters.k", ("pi/2",)),
    ("output={points: 11}", "output", ("{points: 11}",)),  # a ':' inside braces is not a range
    ("parameters.k=[1:2]", "parameters.k", ("[1:2]",)),    # nor inside brackets
    # the key is stripped; '=' in the values stays with them (the first '=' splits)
    (" parameters.k =1", "parameters.k", ("1",)),
    ("equations.0=u' = -u", "equations.0", ("u' = -u",)),
])
def test_parse_sweep_values(text, key, values):
    assert parse_sweep(text) == Sweep(key, values)


def test_a_float_range_has_no_accumulated_rounding():
    values = parse_sweep("parameters.k=0:1:0.1").values
    assert values == ("0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0")
    assert "0.30000000000000004" not in values and "0.7000000000000001" not in values
    # the same with a step that is not a binary fraction and a longer run
    values = parse_sweep("parameters.k=0.1:3.0:0.1").values
    assert len(values) == 30 and values[-1] == "3.0"
    assert all(len(v) <= 3 for v in values), values  # 0.1 ... 3.0, nothing like 2.9000000000000004


def test_the_range_limit_is_inclusive():
    assert len(parse_sweep(f"training.seed=1:{MAX_SWEEP_VALUES}").values) == MAX_SWEEP_VALUES
    with pytest.raises(ProblemError, match="values"):
        parse_sweep(f"training.seed=0:{MAX_SWEEP_VALUES}")


def test_the_label_is_the_last_part_of_the_key():
    assert parse_sweep("training.adam.steps=1,2").label == "steps"
    assert parse_sweep("seed=1").label == "seed"


# ------------------------------------------------------------------ parse_sweep: errors


@pytest.mark.parametrize("text, words", [
    ("parameters.k", "not KEY=VALUES"),               # no '='
    ("=1,2", "empty key"),
    ("  =1", "empty key"),
    ("parameters..k=1", "empty key"),
    ("parameters.k.=1", "empty key"),
    ("parameters.k=", "no values"),
    ("parameters.k=  ", "no values"),
    ("parameters.k=1,,2", "empty value"),
    ("parameters.k=1,2,", "empty value"),
    ("parameters.k=,1", "empty value"),
    ("training.seed=4:0", "empty or endless"),        # stop below start with the default step 1
    ("training.seed=0:4:-1", "empty or endless"),     # step away from stop
    ("training.seed=0:4:0", "empty or endless"),      # zero step
    ("parameters.k=0:1:0.0", "empty or endless"),
    ("training.seed=a:4", "not a range of numbers"),
    ("training.seed=0:b:1", "not a range of numbers"),
    ("training.seed=0:", "not a range"),
    ("training.seed=:4", "not a range"),
    ("training.seed=0:1:2:3", "not a range"),
    ("parameters.k=0:inf", "non-finite"),
    ("parameters.k=nan:1", "non-finite"),
    ("training.seed=0:1e6", "values"),                # too many values: almost surely a typo
    ("parameters.k=0:1:1e-9", "values"),
    ("parameters.k=1,2,1", "listed twice"),
    ("training.seed=a,b,a", "listed twice"),
])
def test_parse_sweep_refuses(text, words):
    with pytest.raises(ProblemError) as caught:
        parse_sweep(text)
    error = caught.value
    assert "--sweep" in (error.location or ""), error.location
    assert words in error.message, error.message
    assert error.fix  # every refusal says what to write instead
    assert "Traceback" not in str(error)


def test_an_error_after_the_key_quotes_the_whole_sweep():
    with pytest.raises(ProblemError) as caught:
        parse_sweep("training.seed=4:0")
    assert caught.value.location == "--sweep training.seed=4:0"
    with pytest.raises(ProblemError) as caught:
        parse_sweep("parameters.k=1,2,1")
    assert "1" in caught.value.message and caught.value.location == "--sweep parameters.k=1,2,1"


# ------------------------------------------------------------------ sweep_points


def test_points_are_the_product_first_sweep_slowest():
    sweeps = [parse_sweep("parameters.k=0.5,1"), parse_sweep("training.seed=0:2")]
    points = sweep_points(sweeps)
    assert points == [
        {"parameters.k": "0.5", "training.seed": "0"},
        {"parameters.k": "0.5", "training.seed": "1"},
        {"parameters.k": "0.5", "training.seed": "2"},
        {"parameters.k": "1", "training.seed": "0"},
        {"parameters.k": "1", "training.seed": "1"},
        {"parameters.k": "1", "training.seed": "2"},
    ]
    # keys keep the order of the sweeps (it orders the labels and the table columns)
    assert all(list(point) == ["parameters.k", "training.seed"] for point in points)


def test_point_count_is_the_product_of_the_sweep_sizes():
    sweeps = [parse_sweep("a.x=1,2,3"), parse_sweep("b.y=0:3"), parse_sweep("c.z=0.5")]
    points = sweep_points(sweeps)
    assert len(points) == 3 * 4 * 1
    assert len({tuple(p.items()) for p in points}) == len(points)  # all distinct


def test_no_sweeps_is_one_empty_point():
    assert sweep_points([]) == [{}]


def test_a_key_swept_twice_is_refused():
    with pytest.raises(ProblemError) as caught:
        sweep_points([parse_sweep("training.seed=0,1"), parse_sweep("parameters.k=1"), parse_sweep("training.seed=2")])
    assert caught.value.location == "--sweep training.seed"
    assert "swept twice" in caught.value.message and "commas" in caught.value.fix


# ------------------------------------------------------------------ point_label


def test_labels_use_short_names():
    sweeps = [parse_sweep("parameters.k=0.5,1"), parse_sweep("training.seed=0:1")]
    assert [point_label(p, sweeps) for p in sweep_points(sweeps)] == [
        "k=0.5,seed=0", "k=0.5,seed=1", "k=1,seed=0", "k=1,seed=1"]


def test_labels_use_full_keys_where_short_names_clash():
    sweeps = [parse_sweep("training.adam.steps=10"), parse_sweep("training.lbfgs.steps=5"), parse_sweep("training.seed=1")]
    (point,) = sweep_points(sweeps)
    assert point_label(point, sweeps) == "training.adam.steps=10,training.lbfgs.steps=5,seed=1"


def test_the_empty_point_has_an_empty_label():
    assert point_label({}, []) == ""
