"""Every size limit of a problem file, in one place (docs/problem-format.md lists them for users).

``LIMITS`` is read when a value is checked, never copied, so a test may
change one entry (``monkeypatch.setitem(LIMITS, "data.rows", 3)``).
"""

from __future__ import annotations

#: Largest value of an option (or count of a part), by the dotted path it limits.
LIMITS = {
    "training.points": 100_000,
    "output.points": 1_000_000,
    "training.adam.steps": 10_000_000,
    "training.lbfgs.steps": 1_000_000,
    "training.lbfgs.history": 1_000,
    "training.lm.steps": 100_000,
    "training.windows": 256,
    "training.subdomains": 64,
    "training.steps_per_call": 10_000,
    "network.width": 4_096,
    "network.depth": 64,
    "data.rows": 1_000_000,
}
#: Largest problem file read (bytes), checked before reading: a problem file is a page of text.
MAX_PROBLEM_BYTES = 1_000_000
#: Largest data CSV read (bytes), checked before reading; rows are also counted while streaming.
MAX_DATA_BYTES = 50_000_000
#: Longest problem name: it names the run folder.
MAX_NAME = 100
