"""The docs say what pinn does: the notebook page runs, and the error examples are what pinn prints.

docs/notebook.md's ``python`` blocks run in order in one namespace (a notebook
session), with the tiny training settings of conftest in place of the page's
``quick`` settings, in a scratch folder beside a link to problems/.  Every
code block of README.md and docs/ that starts with ``$ python scripts/solve.py
...`` and shows an ``error:`` is run (in this process, nothing trains) and
must print exactly the lines shown, on stderr, with exit status 2.
"""

import contextlib
import io
import re
import shlex

import pytest

from pinn.cli import main

from conftest import ROOT, TINY

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def blocks(path, language):
    return [body for kind, body in FENCE.findall(path.read_text(encoding="utf-8")) if kind == language]


# ------------------------------------------------------------------ the notebook page

QUICK = re.compile(r"^quick = \[.*\]$", re.M)


def test_notebook_page_runs(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = blocks(ROOT / "docs" / "notebook.md", "python")
    assert len(cells) >= 6 and QUICK.search(cells[0]), "the page's first cell defines quick = [...]"
    cells[0] = QUICK.sub(f"quick = {list(TINY)!r}", cells[0])
    (tmp_path / "problems").symlink_to(ROOT / "problems")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in cells:
                exec(compile(cell, "docs/notebook.md", "exec"), namespace)  # the docs' own code, not user text
    finally:
        plt.close("all")
    assert (tmp_path / "runs" / "harmonic" / "plot.png").exists()
    assert namespace["again"].evaluate([1.0])["y"] == pytest.approx(namespace["solution"].evaluate([1.0])["y"], rel=1e-12)
    assert [record["run"] for record in namespace["records"]] == ["decay/k=0.5", "decay/k=1", "decay/k=2"]


# ------------------------------------------------------------------ error examples, as printed


def error_examples():
    found = []
    for path in DOCS:
        for body in blocks(path, ""):
            command, *shown = body.rstrip("\n").split("\n")
            if command.startswith("$ python scripts/solve.py ") and shown and shown[0].startswith("error: "):
                found.append(pytest.param(command, "\n".join(shown), id=f"{path.name}: {command[26:70]}"))
    return found


def test_the_docs_show_error_examples():
    assert {example.values[0].split()[3] for example in error_examples()} >= {"problems/decay.yaml", "problems/quadratic.yaml"}


@pytest.mark.parametrize("command, shown", error_examples())
def test_an_error_example_is_what_pinn_prints(command, shown, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples' paths are relative to the repository
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["solve", *shlex.split(command)[3:]])
    assert status == 2 and out.getvalue() == ""
    assert err.getvalue().rstrip("\n") == shown
