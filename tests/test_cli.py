"""The command line: ``pinn.cli.main`` in-process (TensorFlow imported once),
plus a few real processes through ``scripts/solve.py`` and the installed
``pinn`` console script.

The contract (docs: problem-format.md, README "Running it"): exit 0 solved,
1 the solve failed with what was reached still written, 2 the problem file or
the command line is invalid (file, field, what is wrong and a fix on stderr,
never a traceback).  A closing table goes to stdout, progress to stderr,
``--quiet`` turns both off.
"""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pinn.cli import main

from conftest import ROOT, UNCHECKED, Terminal, problem_path

#: conftest.UNCHECKED as --set options: the self-check's thresholds so loose that only non-finite figures fail.
UNCHECKED_CLI = tuple(item for o in UNCHECKED for item in ("--set", o))
#: Short training for the command line (accuracy is not the point here, so not checked either).
SHORT_CLI = ("--set", "training.adam.steps=50", "--set", "training.lbfgs.steps=20", "--set", "training.jit_compile=false",
             *UNCHECKED_CLI)
#: No training at all: the quickest run that still writes every report file (output.points last: see NO_TRAINING[:-2]).
NO_TRAINING = ("--set", "training.adam.steps=0", "--set", "training.lbfgs.steps=0", "--set", "training.jit_compile=false",
               *UNCHECKED_CLI, "--set", "output.points=21")

FIVE_OUTPUTS = ("solution.csv", "metrics.json", "plot.png", "model", "problem.yaml")
QUADRATIC = str(problem_path("quadratic"))

#: TensorFlow's C++ start-up chatter; none of it may reach the user's terminal.
TF_LOG_MARKERS = ("cuda", "onednn", "absl", "cpu_feature_guard", "i0000 ", "w0000 ", "e0000 ", "tensorflow binary is optimized")


def run_cli(argv):
    """main(argv) as a process would end: the returned status, or argparse's SystemExit code."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exit:  # argparse errors and --help end this way
        return exit.code


def assert_outputs(directory):
    directory = Path(directory)
    missing = [name for name in FIVE_OUTPUTS if not (directory / name).exists()]
    assert not missing, f"{directory} lacks {missing}"
    assert (directory / "model").is_dir() and any((directory / "model").iterdir())


def strict_json(path):
    """metrics.json parsed as strict JSON: NaN or Infinity would be an error."""
    def refuse(constant):
        raise ValueError(f"{path}: non-standard JSON constant {constant}")
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ a successful run


@pytest.fixture(scope="module")
def quadratic_run(tmp_path_factory):
    """One CLI solve of the quadratic with short settings: (status, stdout, stderr, folder)."""
    out = tmp_path_factory.mktemp("cli") / "quadratic"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run_cli([QUADRATIC, "--out", out, *SHORT_CLI])
    return status, stdout.getvalue(), stderr.getvalue(), out


def test_quadratic_exits_0_and_writes_the_five_outputs(quadratic_run):
    status, out, err, folder = quadratic_run
    assert status == 0, err
    assert_outputs(folder)
    assert "Traceback" not in out + err


def test_closing_table_on_stdout(quadratic_run):
    status, out, err, folder = quadratic_run
    lines = out.splitlines()
    # the header names the problem and the set-up
    assert lines[0].startswith("quadratic: y'' = 2")
    assert "BVP in x on [0, 1]" in out and "unknowns y" in out and "1-64-64-1 tanh" in out
    # the table: a heading, a rule, a row per unknown and derivative
    assert re.search(r"^\s+against\s+relative L2\s+max abs$", out, re.M), out
    metrics = strict_json(folder / "metrics.json")
    rows = {}
    for line in lines:
        match = re.match(r"^  (y'*)\s+(exact|reference)\s+(\S+)\s+(\S+)$", line)
        if match:
            rows[match.group(1)] = match.groups()[1:]
    assert set(rows) == {"y", "y'", "y''"}, out
    entry = metrics["errors"]["y"]
    assert rows["y"] == ("exact", f"{entry['relative_l2']:.2e}", f"{entry['max_abs']:.2e}")
    for order, name in ((1, "y'"), (2, "y''")):
        sub = entry["derivatives"][str(order)]
        assert rows[name] == ("exact", f"{sub['relative_l2']:.2e}", f"{sub['max_abs']:.2e}")
    # status, steps and files lines
    assert re.search(r"^  status  (converged|max_steps): \S", out, re.M), out
    assert re.search(r"^  steps   50 Adam \+ \d+ L-BFGS in [\d.]+ s, lowest loss \S+$", out, re.M), out
    files = re.search(r"^  files   (.*)/: (.*)$", out, re.M)
    assert files, out
    assert Path(files.group(1)) == folder
    assert files.group(2).split(", ") == sorted(FIVE_OUTPUTS)
    # nothing but the header and the table on stdout: progress goes to stderr
    assert "steps/s" not in out


def test_progress_goes_to_stderr(quadratic_run):
    status, out, err, folder = quadratic_run
    progress = [line for line in err.splitlines() if "steps/s" in line]
    assert any("Adam" in line for line in progress), err
    assert any("L-BFGS" in line for line in progress), err
    # not a terminal: whole lines, no carriage returns
    assert "\r" not in err
    # the last progress line of each phase reports the whole phase
    assert any(re.search(r"Adam\s+50/50\s", line) for line in progress), err


def test_quiet_prints_nothing_on_stdout(tmp_path):
    # stderr a terminal, where pinn.solve's own default would show progress: --quiet still shows none
    stdout, stderr = io.StringIO(), Terminal()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run_cli([QUADRATIC, "--out", tmp_path / "run", "--quiet", *SHORT_CLI])
    out, err = stdout.getvalue(), stderr.getvalue()
    assert status == 0, err
    assert out == ""
    assert "steps/s" not in err and "Traceback" not in err
    assert_outputs(tmp_path / "run")


def test_no_plot_skips_only_the_plot(tmp_path, capsys):
    status = run_cli([QUADRATIC, "--out", tmp_path / "run", "--quiet", "--no-plot", *NO_TRAINING])
    assert status == 0, capsys.readouterr().err
    assert not (tmp_path / "run" / "plot.png").exists()
    assert all((tmp_path / "run" / name).exists() for name in FIVE_OUTPUTS if name != "plot.png")


def test_seed_and_repeated_set_are_applied_and_recorded(tmp_path, capsys):
    settings = ["--set", "training.adam.steps=10",      # overridden by the later --set of the same key
                "--set", "training.seed=3",             # overridden by --seed
                "--set", "network.hidden=[8, 8]", "--set", "output.points=33",
                "--set", "training.adam.steps=40", "--set", "training.lbfgs.steps=5",
                "--set", "training.jit_compile=false", *UNCHECKED_CLI, "--seed", "7"]  # --seed last: see settings[:-1]
    status = run_cli([QUADRATIC, "--out", tmp_path / "a", *settings])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "network 1-8-8-1 tanh" in out
    assert re.search(r"steps   40 Adam \+ \d+ L-BFGS", out), out

    as_run = yaml.safe_load((tmp_path / "a" / "problem.yaml").read_text(encoding="utf-8"))
    assert as_run["training"]["seed"] == 7
    assert as_run["training"]["adam"]["steps"] == 40
    assert as_run["training"]["lbfgs"]["steps"] == 5
    assert as_run["training"]["jit_compile"] is False
    assert as_run["network"]["hidden"] == [8, 8]
    assert as_run["output"]["points"] == 33
    # the problem itself is unchanged
    assert as_run["equations"] == ["y'' = 2"] and as_run["conditions"] == ["y(0) = 0", "y(1) = 1"]

    metrics = strict_json(tmp_path / "a" / "metrics.json")
    assert metrics["steps"] <= 45
    first = np.genfromtxt(tmp_path / "a" / "solution.csv", delimiter=",", names=True, deletechars="")
    assert len(first) == 33

    # the same seed repeats the run exactly; another seed does not
    assert run_cli([QUADRATIC, "--out", tmp_path / "b", "--quiet", *settings]) == 0
    again = np.genfromtxt(tmp_path / "b" / "solution.csv", delimiter=",", names=True, deletechars="")
    np.testing.assert_array_equal(first["y"], again["y"])
    assert run_cli([QUADRATIC, "--out", tmp_path / "c", "--quiet", *settings[:-1], "8"]) == 0
    other = np.genfromtxt(tmp_path / "c" / "solution.csv", delimiter=",", names=True, deletechars="")
    assert not np.array_equal(first["y"], other["y"])
    assert yaml.safe_load((tmp_path / "c" / "problem.yaml").read_text())["training"]["seed"] == 8


def test_problem_file_given_without_the_solve_command(tmp_path, capsys):
    status = run_cli(["solve", QUADRATIC, "--out", tmp_path / "run", "--quiet", *NO_TRAINING])
    assert status == 0, capsys.readouterr().err
    assert_outputs(tmp_path / "run")


def test_help_lists_the_options(capsys):
    assert run_cli(["solve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--out", "--set", "--seed", "--quiet", "--no-plot", "KEY=VALUE"):
        assert option in out


# ------------------------------------------------------------------ exit 2: an invalid problem or command line


VALID = """\
domain: [0, 1]
equations:
  - y'' = 2
conditions:
  - y(0) = 0
  - y(1) = 1
"""

#: name -> (file text or None for a missing file, extra arguments, substrings the message must hold)
INVALID = {
    "missing file": (None, [], ["no such file", "Check the path"]),
    "invalid YAML": ("domain: [0, 1\nequations: [y'' = 2]\n", [], ["line 2", "not valid YAML", "Check the indentation"]),
    "unknown key": (VALID + "nosuchkey: 3\n", [], ["nosuchkey", "unknown key", "Allowed keys here:"]),
    "unknown key, near miss": (VALID.replace("conditions:", "conditons:"), [], ["conditons", "Did you mean 'conditions'?"]),
    "undefined name": (VALID.replace("y'' = 2", "y'' = k"), [],
                       ["equations[0]", "unknown name 'k'", "y'' = k", "^", "Add k under parameters"]),
    "--set a negative step count": (VALID, ["--set", "training.adam.steps=-1"],
                                    ["--set training.adam.steps", "-1 is too small", "Use a whole number >= 0"]),
    "--set a field that does not exist": (VALID, ["--set", "nosuchfield=1"], ["--set nosuchfield", "no field 'nosuchfield'", "Fields are:"]),
    "--set without =": (VALID, ["--set", "foo"], ["--set", "'foo' is not KEY=VALUE", "Write it as --set training.adam.steps=500"]),
    "--set a word for a number": (VALID, ["--set", "training.adam.steps=many"], ["--set training.adam.steps", "'many'", "whole number"]),
    "--set a bad network": (VALID, ["--set", "network.hidden=[0]"], ["network.hidden[0]", "--set network.hidden", "at least 1"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_problem_exits_2_with_file_field_and_fix(case, tmp_path, capsys):
    text, extra, expected = INVALID[case]
    path = tmp_path / "problem_under_test.yaml"
    if text is not None:
        write(path, text)
    status = run_cli([path, "--out", tmp_path / "out", *extra])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert "Traceback" not in err and out == ""
    # the first line names the file; the last one, indented, says how to fix it
    lines = err.rstrip("\n").splitlines()
    assert lines[0].startswith(f"error: {path}: "), err
    assert len(lines) >= 2 and lines[-1].startswith("  ") and lines[-1].strip(), err
    for piece in expected:
        assert piece in err, f"{piece!r} not in:\n{err}"
    # nothing was written for an invalid problem
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, expected", [
    ([QUADRATIC, "--bogus"], "unrecognized arguments: --bogus"),
    ([QUADRATIC, "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["solve"], "the following arguments are required: problem"),
    ([], "give a command or a problem file"),
], ids=["unknown option", "--seed not a number", "no problem file", "no arguments"])
def test_invalid_command_line_exits_2_with_usage(argv, expected, tmp_path, capsys):
    status = run_cli([*argv, "--out", tmp_path / "out"] if argv else argv)
    out, err = capsys.readouterr()
    assert status == 2
    assert expected in err and "usage:" in err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "out").exists()


def test_out_that_cannot_be_a_folder_is_a_user_error(tmp_path, capsys):
    blocker = write(tmp_path / "a_file", "not a folder\n")
    status = run_cli([QUADRATIC, "--out", blocker / "run", "--quiet", *NO_TRAINING])
    out, err = capsys.readouterr()
    assert status == 2
    assert str(blocker) in err and "Traceback" not in err


# ------------------------------------------------------------------ exit 1: the solve fails


#: log of a negative number: the residual is NaN from the first step (checked:
#: "non-finite loss at Adam step 1 in equation[0]"), whatever the weights.
NONFINITE = """\
name: nonfinite
variable: t
domain: [0, 1]
equations:
  - y' = log(y - 10)
conditions:
  - y(0) = 1
"""


def test_nonfinite_loss_exits_1_and_keeps_the_report(tmp_path, capsys):
    path = write(tmp_path / "nonfinite.yaml", NONFINITE)
    folder = tmp_path / "out"
    status = run_cli([path, "--out", folder, *SHORT_CLI])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert "Traceback" not in err
    # the message names the file, what failed and where the report is
    failure = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(failure) == 1, err
    assert str(path) in failure[0] and "the solve failed" in failure[0] and "non-finite" in failure[0]
    assert str(folder) in failure[0]
    # the table still closes the run and tells the status
    assert re.search(r"^  status  nonfinite_loss: ", out, re.M), out
    assert "errors: none computed" in out  # scipy cannot solve it either
    # what was reached is written
    assert_outputs(folder)
    metrics = strict_json(folder / "metrics.json")
    assert metrics["status"] == "nonfinite_loss" and metrics["problem"] == "nonfinite"
    assert "equation[0]" in metrics["message"]
    table = np.genfromtxt(folder / "solution.csv", delimiter=",", names=True, deletechars="")
    assert table.dtype.names[:3] == ("t", "y", "y'")
    assert np.all(np.isfinite(table["y"]))  # the kept (initial) network is finite
    assert (folder / "plot.png").stat().st_size > 10_000


def test_nonfinite_loss_quiet_still_reports_the_failure(tmp_path, capsys):
    path = write(tmp_path / "nonfinite.yaml", NONFINITE)
    status = run_cli([path, "--out", tmp_path / "out", "--quiet", "--no-plot", *NO_TRAINING[:-2], "--set", "training.adam.steps=5"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert "the solve failed" in err and "Traceback" not in err


# ------------------------------------------------------------------ real processes


def clean_environment():
    """The caller's environment without the settings that would hide TensorFlow's logs anyway."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_process(command, cwd):
    return subprocess.run([str(c) for c in command], cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=300)


def assert_no_tensorflow_logs(text):
    lowered = text.lower()
    leaked = [marker for marker in TF_LOG_MARKERS if marker in lowered]
    assert not leaked, f"TensorFlow log lines leaked ({leaked}):\n{text}"


def pinn_command():
    found = shutil.which("pinn") or str(Path(sys.executable).parent / "pinn")
    if not Path(found).exists():
        pytest.skip("the pinn console script is not installed")
    return found


def test_script_solves_with_exit_0_and_no_tensorflow_logs(tmp_path):
    result = run_process([sys.executable, ROOT / "scripts" / "solve.py", QUADRATIC, "--out", tmp_path / "run", *SHORT_CLI], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "relative L2" in result.stdout and "status" in result.stdout
    assert_no_tensorflow_logs(result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    # stderr holds nothing but progress lines
    others = [line for line in result.stderr.splitlines() if "steps/s" not in line]
    assert not others, result.stderr
    assert_outputs(tmp_path / "run")
    assert not (tmp_path / "runs").exists()  # --out was honoured


@pytest.mark.parametrize("arguments, expected", [
    (["missing.yaml"], "missing.yaml: no such file"),
    ([QUADRATIC, "--set", "training.adam.steps=-1"], "--set training.adam.steps"),
    ([QUADRATIC, "--bogus"], "unrecognized arguments: --bogus"),
], ids=["missing file", "bad --set", "unknown option"])
def test_script_user_mistake_exits_2_without_traceback(arguments, expected, tmp_path):
    result = run_process([sys.executable, ROOT / "scripts" / "solve.py", *arguments, "--out", tmp_path / "run"], cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert_no_tensorflow_logs(result.stderr)
    assert not (tmp_path / "run").exists()


def test_python_dash_m_pinn_runs_the_command_line(tmp_path):
    # python -m pinn is the pinn console script: its usage, and exit 2 for a missing file, without TensorFlow logs
    helped = run_process([sys.executable, "-m", "pinn", "--help"], cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "usage: pinn COMMAND" in helped.stdout and "solve" in helped.stdout and "batch" in helped.stdout
    refused = run_process([sys.executable, "-m", "pinn", "solve", "missing.yaml"], cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "error: missing.yaml: no such file" in refused.stderr and "Traceback" not in refused.stderr


def test_console_script_exit_0_and_2(tmp_path):
    pinn = pinn_command()
    solved = run_process([pinn, "solve", QUADRATIC, "--quiet", "--out", tmp_path / "run", *SHORT_CLI], cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
    assert solved.stdout == ""  # --quiet
    assert_no_tensorflow_logs(solved.stderr)
    assert "Traceback" not in solved.stderr
    assert_outputs(tmp_path / "run")

    broken = write(tmp_path / "broken.yaml", VALID.replace("y'' = 2", "y'' = k"))
    refused = run_process([pinn, broken], cwd=tmp_path)  # the short form, without "solve"
    assert refused.returncode == 2
    assert f"{broken}: equations[0]: unknown name 'k'" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
