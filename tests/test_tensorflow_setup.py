"""TensorFlow set-up (pinn/tensorflow_setup.py): the library is as quiet as the command line.

A notebook or script that does ``import pinn`` and solves must not see
TensorFlow's start-up lines ("failed call to cuInit ...", oneDNN notices) nor
grappler's "Not handling type DT_DOUBLE" per compiled step on stderr.  Those
lines are written by TensorFlow's C++ code straight to file descriptor 2, so
only a real process shows them: each test runs one, with the environment
cleared of TF_CPP_MIN_LOG_LEVEL (which would hide most of them anyway).
"""

import os
import subprocess
import sys

from conftest import ROOT, TINY, problem_path

SOLVE_AND_SAVE = """
import sys
import pinn
problem = pinn.load_problem(sys.argv[1], sys.argv[3:])
solution = pinn.solve(problem)
solution.save(sys.argv[2])
print(solution.status)
"""

LOAD_AND_EVALUATE = """
import sys
import pinn
solution = pinn.load_solution(sys.argv[1])
print(float(solution.evaluate([0.5], order=2)["y"][0]))
"""


def run_python(code, *arguments, cwd):
    """``python -c code arguments`` with pinn importable and TensorFlow's log level left to pinn."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code, *map(str, arguments)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_pinn_then_solve_and_reload_write_nothing_to_stderr(tmp_path):
    solved = run_python(SOLVE_AND_SAVE, problem_path("quadratic"), tmp_path / "model", *TINY, cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
    assert solved.stdout.strip() in ("converged", "max_steps")
    assert solved.stderr == ""  # no TensorFlow start-up lines, no grappler warnings, no progress (stderr is no terminal)

    # a fresh process whose first use of TensorFlow is loading a saved model is as quiet
    loaded = run_python(LOAD_AND_EVALUATE, tmp_path / "model", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    float(loaded.stdout)
    assert loaded.stderr == ""
