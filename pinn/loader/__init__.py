"""The problem loader, by concern; its entry points are in :mod:`pinn.problem_file`.

    yaml_text.py   YAML text -> plain values: the safe Loader, constructor and duplicate-key faults
    user_files.py  opening a file the user names: the errno table, size caps before reading
    overrides.py   --set KEY=VALUE: parsing, applying, blaming a fault on its --set
    values.py      one value: Context, describe, integer, number, choice, identifier, parse
    fields.py      the option sections, one table row per spec dataclass field (FIELDS)
    limits.py      every size limit (LIMITS, MAX_PROBLEM_BYTES, MAX_DATA_BYTES, MAX_NAME)
    names.py       parameters, unknowns, and the faults of a name in any expression
    equations.py   domain, equations, conditions, exact solutions
    data_file.py   observations: inline columns or a CSV beside the problem file
    build.py       the Problem, built in named steps, with pinn.wellposed before and after

Modules here import only their siblings listed above them (and pinn's
errors, expressions, problem, wellposed, constraints), never this package or
pinn.problem_file.  No TensorFlow.
"""
