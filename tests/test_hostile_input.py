"""Hostile and broken input through the command line: exit 2, a clear message, nothing left behind.

Each case writes a problem file (and perhaps a CSV, a link or a huge file)
and runs ``pinn.cli.main([FILE, "--out", DIR])``.  The contract
(docs/problem-format.md, "Running it"): exit status 2, stderr names the file
and the field (or line) and says what is wrong, never a traceback, and no
output folder is made.  Every refusal happens at load time, before TensorFlow
is set up, so the table is fast; a case that loads by mistake fails at once
instead of training.
"""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

from pinn import cli
from pinn.cli import main

QUAD = "domain: [0, 1]\nequations: [\"y'' = 2\"]\nconditions: ['y(0) = 0', 'y(1) = 1']\n"
BIG = "9" * 400


def quad(**fields) -> str:
    """The quadratic problem with top-level fields replaced or added (values as YAML text)."""
    document = {"domain": "[0, 1]", "equations": "[\"y'' = 2\"]", "conditions": "['y(0) = 0', 'y(1) = 1']", **fields}
    return "".join(f"{key}: {value}\n" for key, value in document.items())


def sparse(size: int):
    """A file of ``size`` bytes written without writing them (a hole), for size limits."""
    def make(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.truncate(size)
    return make


def link(target: str):
    def make(path: Path) -> None:
        os.symlink(target, path)
    return make


#: id -> (files: {name: text or maker(path)}, the file given to the CLI, pieces stderr must contain).
#: The problem file is problem.yaml unless the case names another; every case also checks the file is named.
CASES = {
    # 1. values PyYAML's constructors reject
    "bad-date": ({"problem.yaml": QUAD + "description: !!timestamp 2024-02-30\n"}, None, ["line 4", "cannot be read as a date"]),
    "float-tag-on-text": ({"problem.yaml": "domain: [0, !!float abc]\n" + QUAD[15:]}, None, ["line 1", "'abc' cannot be read as a number"]),
    "int-tag-on-nothing": ({"problem.yaml": QUAD + "output: {points: !!int ''}\n"}, None, ["line 4", "cannot be read as a whole number"]),
    "5000-digit-integer": ({"problem.yaml": QUAD + "training: {seed: " + "9" * 5000 + "}\n"}, None, ["line 4", "5,000 digits"]),
    "merge-of-a-scalar": ({"problem.yaml": QUAD + "training:\n  <<: 5\n"}, None, ["line 5", "merging"]),
    # 2. whole numbers too large for a float, in each kind of field
    "400-digits-parameter": ({"problem.yaml": quad(parameters=f"{{a: {BIG}}}")}, None, ["parameters.a", "too large"]),
    "400-digits-domain": ({"problem.yaml": quad(domain=f"[0, {BIG}]")}, None, ["domain[1]", "too large"]),
    "400-digits-data": ({"problem.yaml": quad(data=f"{{x: [0, 1], y: [0, {BIG}]}}")}, None, ["data.y", "too large"]),
    "400-digits-learning-rate": ({"problem.yaml": quad(training=f"{{adam: {{learning_rate: {BIG}}}}}")}, None,
                                 ["training.adam.learning_rate", "too large"]),
    "400-digits-loss-weight": ({"problem.yaml": quad(training=f"{{weights: {{data: {BIG}}}}}")}, None, ["training.weights.data", "too large"]),
    "400-digits-seed": ({"problem.yaml": quad(training=f"{{seed: {BIG}}}")}, None, ["training.seed", "beyond the limit"]),
    # 3. paths
    "path-name-too-long": ({}, "a" * 300 + ".yaml", ["too long"]),
    "symlink-loop": ({"loop.yaml": link("loop.yaml")}, "loop.yaml", ["symbolic link loop"]),
    "dangling-symlink": ({"gone.yaml": link("nowhere.yaml")}, "gone.yaml", ["symbolic link to a file that does not exist"]),
    "a-folder": ({"folder.yaml": lambda path: path.mkdir()}, "folder.yaml", ["a folder, not a file"]),
    # 4. constants that are not finite
    "power-nan": ({"problem.yaml": quad(equations="[\"y'' = y^(0/0)\"]")}, None, ["equations[0]", "'(0/0)' is not a number (nan)", "^^^^^"]),
    "power-inf": ({"problem.yaml": quad(equations="[\"y'' = y^(1/0)\"]")}, None, ["equations[0]", "'(1/0)' is infinite"]),
    "condition-inf": ({"problem.yaml": quad(conditions="['y(0) = 1/0', 'y(1) = 1']")}, None, ["conditions[0]", "'1/0' is infinite"]),
    "exact-inf": ({"problem.yaml": quad(exact="{y: 1/0}")}, None, ["exact.y", "'1/0' is infinite"]),
    "exact-nan": ({"problem.yaml": quad(exact="{y: x^(0/0)}")}, None, ["exact.y", "not a number (nan)"]),
    "exact-overflow": ({"problem.yaml": quad(exact="{y: x + exp(1000)}")}, None, ["exact.y", "'exp(1000)' is infinite"]),
    # 5-7. sizes
    "huge-expression": ({"problem.yaml": quad(equations="[\"y'' = " + "y+" * 100_000 + "y\"]")}, None,
                        ["equations[0]", "beyond the limit of 10,000", "..."]),
    "huge-problem-file": ({"problem.yaml": sparse(5_000_000)}, None, ["5,000,000 bytes, beyond the limit of 1 MB"]),
    "huge-data-file": ({"problem.yaml": quad(data="{file: obs.csv}"), "obs.csv": sparse(60_000_000)}, None,
                       ["data.file", "60,000,000 bytes, beyond the limit of 50 MB"]),
    # 8. data.file stays in the problem's folder, and its content is not echoed
    "data-absolute-path": ({"problem.yaml": quad(data="{file: /etc/passwd}")}, None, ["data.file", "absolute path"]),
    "data-up-and-out": ({"problem.yaml": quad(data="{file: ../../etc/passwd}")}, None, ["data.file", "'..'"]),
    "data-link-out": ({"problem.yaml": quad(data="{file: obs.csv}"), "obs.csv": link("/etc/passwd")}, None,
                      ["data.file", "leads out of the problem file's folder"]),
    "data-not-a-header": ({"problem.yaml": quad(data="{file: obs.csv}"), "obs.csv": "secret:" + "s" * 200 + "\n1,2\n"}, None,
                          ["data.file", "first line is not a header"]),
    # 9. digits and names outside ASCII
    "fullwidth-digit": ({"problem.yaml": quad(equations="[\"y'' = \uff12\"]")}, None, ["equations[0]", "(U+FF12)", "0-9"]),
    "arabic-digit": ({"problem.yaml": quad(equations="[\"y'' = \u0662\"]")}, None, ["equations[0]", "(U+0662)", "0-9"]),
    "greek-name": ({"problem.yaml": quad(parameters="{\u03c9: 1}")}, None, ["parameters.\u03c9", "not a valid name"]),
    # 10. names that would make odd folders
    "name-with-newline": ({"problem.yaml": quad(name='"a\\nb"')}, None, ["name", "control character"]),
    "name-with-slash": ({"problem.yaml": quad(name="a/b")}, None, ["name", "path separator"]),
    "name-too-long": ({"problem.yaml": quad(name="n" * 101)}, None, ["name", "longer than 100"]),
    # 11. ragged rows
    "ragged-short-row": ({"problem.yaml": quad(data="{file: obs.csv}"), "obs.csv": "x,y\n0,0\n0.5\n1,1\n"}, None,
                         ["data.file", "line 3 has 1 cell, but the header has 2 columns"]),
    "ragged-long-row": ({"problem.yaml": quad(data="{file: obs.csv}"), "obs.csv": "x,y\n0,0\n0.5,1,7\n"}, None,
                        ["data.file", "line 3 has 3 cells"]),
}


@pytest.fixture
def no_training(monkeypatch):
    """A case that loads by mistake fails at once, instead of setting up TensorFlow and training."""
    def refuse(*args, **kwargs):
        raise AssertionError("the problem loaded: it should have been refused")
    monkeypatch.setattr(cli, "configure_tensorflow", refuse, raising=False)


def run(tmp_path: Path, given, capsys):
    """main([given, --out out]) -> (status, stderr); asserts the no-traceback, no-output contract."""
    out = tmp_path / "out"
    status = main([str(given), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert not out.exists() or not any(out.iterdir()), f"output left in {out}"
    assert len(captured.err) < 5_000, f"a {len(captured.err):,}-character message"
    return status, captured.err


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize("files, given, pieces", CASES.values(), ids=CASES.keys())
def test_hostile_input_exits_2_with_a_message(tmp_path, capsys, files, given, pieces):
    folder = tmp_path / "case"
    folder.mkdir()
    for name, content in files.items():
        if callable(content):
            content(folder / name)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    path = folder / (given or "problem.yaml")
    status, err = run(tmp_path, path, capsys)
    assert status == 2, err
    assert err.startswith(f"error: {path}"), err  # the file, first
    for piece in pieces:
        assert piece in err, err


def _refuse_for(path: Path, error: int, real):
    """``real`` (os.stat or open), raising OSError ``error`` for ``path`` only."""
    def patched(target, *args, **kwargs):
        if os.fspath(target) == os.fspath(path):
            raise OSError(error, os.strerror(error), os.fspath(target))
        return real(target, *args, **kwargs)
    return patched


# Permissions, simulated (the tests may run as root, whom permissions do not stop), then real when they can be.
@pytest.mark.usefixtures("no_training")
def test_a_folder_without_search_permission_is_named_as_such(tmp_path, capsys, monkeypatch):
    path = tmp_path / "locked" / "problem.yaml"
    monkeypatch.setattr(os, "stat", _refuse_for(path, errno.EACCES, os.stat))
    status, err = run(tmp_path, path, capsys)
    assert status == 2 and f"error: {path}: permission denied: a folder on the path cannot be searched" in err
    assert "UTF-8" not in err and "no such file" not in err


@pytest.mark.usefixtures("no_training")
def test_an_unreadable_file_is_not_blamed_on_its_encoding(tmp_path, capsys, monkeypatch):
    path = tmp_path / "problem.yaml"
    path.write_text(QUAD, encoding="utf-8")
    monkeypatch.setattr(builtins, "open", _refuse_for(path, errno.EACCES, builtins.open))
    status, err = run(tmp_path, path, capsys)
    assert status == 2 and f"error: {path}: the file cannot be read: Permission denied" in err
    assert "chmod" in err and "UTF-8" not in err


@pytest.mark.usefixtures("no_training")
def test_an_unreadable_data_file_is_not_blamed_on_its_encoding(tmp_path, capsys, monkeypatch):
    path = tmp_path / "problem.yaml"
    path.write_text(quad(data="{file: obs.csv}"), encoding="utf-8")
    (tmp_path / "obs.csv").write_text("x,y\n0,0\n", encoding="utf-8")
    monkeypatch.setattr(builtins, "open", _refuse_for(tmp_path / "obs.csv", errno.EACCES, builtins.open))
    status, err = run(tmp_path, path, capsys)
    assert status == 2 and "data.file: the data file" in err and "cannot be read: Permission denied" in err
    assert "UTF-8" not in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root is not stopped by permissions")
@pytest.mark.usefixtures("no_training")
def test_real_permissions(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "problem.yaml").write_text(QUAD, encoding="utf-8")
    unreadable = tmp_path / "unreadable.yaml"
    unreadable.write_text(QUAD, encoding="utf-8")
    locked.chmod(0o600)
    unreadable.chmod(0)
    try:
        status, err = run(tmp_path, locked / "problem.yaml", capsys)
        assert status == 2 and "cannot be searched" in err
        status, err = run(tmp_path, unreadable, capsys)
        assert status == 2 and "cannot be read" in err and "UTF-8" not in err
    finally:
        locked.chmod(0o700)
        unreadable.chmod(0o600)
