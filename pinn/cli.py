"""The command line: ``pinn solve PROBLEM.yaml`` (also ``python scripts/solve.py``).

Thin glue over the Python API: parse arguments, load the problem, solve with
a progress display, compute the reference and metrics, write the report,
print a closing table.  The only place that knows exit codes:
0 solved, 1 the solve failed (what was reached is still written),
2 the problem file or the command line is invalid, 130 interrupted (Ctrl-C
or SIGTERM; for a solve, what training reached is still written).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence, TextIO

from .errors import ProblemError
from .progress import ProgressDisplay
from .tensorflow_setup import configure_tensorflow

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with usage, as argparse does, but never a traceback
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def _solve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", help="the problem file (YAML)")
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: runs/NAME)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override a field by its dotted path, e.g. --set training.adam.steps=500 (repeatable)")
    parser.add_argument("--seed", type=int, help="the training seed (same as --set training.seed=N)")
    parser.add_argument("--quiet", action="store_true", help="no progress display and no table; errors still go to stderr")
    parser.add_argument("--no-plot", action="store_true", help="skip plot.png")


def solve_parser(prog: str = "pinn solve") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Solve one problem file; write solution.csv, metrics.json, plot.png and the model.")
    _solve_arguments(parser)
    return parser


def batch_parser(prog: str = "pinn batch") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Solve many problems and parameter sweeps; each run writes its report under DIR, "
                    "the batch writes DIR/summary.csv and DIR/summary.md. Rerunning skips finished runs.",
    )
    parser.add_argument("problems", nargs="+", metavar="PROBLEM",
                        help="problem files, folders (their .yaml files) or glob patterns such as 'problems/*.yaml'")
    parser.add_argument("--sweep", metavar="KEY=VALUES", action="append", default=[], dest="sweeps",
                        help="run every value: parameters.k=0.5,1,2 (a list), training.seed=0:4 (integers 0 to 4), "
                             "parameters.k=0.5:2:0.5 (start:stop:step); several sweeps run every combination (repeatable)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override a field in every run, e.g. --set training.adam.steps=500 (repeatable)")
    parser.add_argument("--out", metavar="DIR", default="runs/batch", help="where the runs and the summary go (default: runs/batch)")
    parser.add_argument("--jobs", metavar="N", type=_positive_integer, default=None,
                        help="runs at once, each in its own worker process (default: 1, in this process; "
                             "with --gpus, 2 per GPU; with --ray, as many as the cluster holds)")
    parser.add_argument("--gpus", metavar="LIST", help="spread the workers over these GPUs: 0,1 or all (each worker sees one GPU)")
    parser.add_argument("--ray", metavar="ADDRESS", nargs="?", const="", default=None,
                        help="run on Ray: a local instance, or the cluster at ADDRESS (needs pip install \"pinn[ray]\")")
    parser.add_argument("--gpus-per-run", metavar="F", type=float, default=None,
                        help="with --ray: the GPU fraction each run requests (default 0.25 if the cluster has GPUs, else 0)")
    parser.add_argument("--vectorize", action="store_true",
                        help="train each problem's sweep (parameter values, seeds) as one batched model of stacked networks")
    parser.add_argument("--force", action="store_true", help="run every run again, also those already done in DIR")
    parser.add_argument("--list", action="store_true", help="list the runs (and which are done) without running them")
    parser.add_argument("--no-plot", action="store_true", help="skip each run's plot.png")
    parser.add_argument("--quiet", action="store_true", help="no line per run and no table; errors still go to stderr")
    return parser


def _positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number; give e.g. --jobs 2") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1; give e.g. --jobs 2")
    return value


#: Sub-commands: name -> (parser factory, runner, one-line help).
COMMANDS = {
    "solve": (solve_parser, lambda arguments: run_solve(arguments), "solve one problem file and write its report"),
    "batch": (batch_parser, lambda arguments: run_batch_command(arguments), "solve many problems and sweeps, with a summary"),
}


def _usage() -> str:
    lines = ["usage: pinn COMMAND ...", "", "Physics-informed neural networks for ODEs declared in YAML.", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, _, text) in COMMANDS.items()]
    lines += ["", "'pinn PROBLEM.yaml ...' is short for 'pinn solve PROBLEM.yaml ...'; 'pinn COMMAND --help' for options."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None, prog: str = "pinn") -> int:
    """Entry point of the ``pinn`` console script; returns the exit status (also for usage errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        if not argv:
            print("pinn: error: give a command or a problem file, e.g. pinn problems/quadratic.yaml", file=sys.stderr)
        return EXIT_OK if argv else EXIT_INVALID
    command = argv[0] if argv[0] in COMMANDS else "solve"  # a path: pinn PROBLEM.yaml
    if argv[0] in COMMANDS:
        argv = argv[1:]
    elif argv[0].startswith("-"):
        print(_usage(), file=sys.stderr)
        print(f"pinn: error: unknown option {argv[0]}; give a command or a problem file first", file=sys.stderr)
        return EXIT_INVALID
    make_parser, run, _ = COMMANDS[command]
    try:
        arguments = make_parser(prog if prog != "pinn" else f"pinn {command}").parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed by argparse
        return int(stop.code or 0)
    with warnings.catch_warnings(), _terminate_as_interrupt():
        warnings.showwarning = _show_warning
        return run(arguments)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM is handled as Ctrl-C (KeyboardInterrupt) while a command runs, so both end the same tidy way."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one plain line on stderr (they already name the file and field)."""
    print(f"warning: {message}", file=sys.stderr)


def run_solve(arguments, out: TextIO = None, err: TextIO = None) -> int:
    """Load, solve, check and report one problem; returns the exit status.

    Ctrl-C at any moment gives exit status 130 and no traceback: during
    training, the best weights reached are reported as usual; before or while
    the report is written, no report folder is left half-written.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run_solve(arguments, out, err)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing more was written (a report is written whole or not at all).", file=err)
        return EXIT_INTERRUPTED


def _run_solve(arguments, out: TextIO, err: TextIO) -> int:
    from .output_folder import REPORT, check_folder
    from .problem_file import load_problem

    overrides = list(arguments.overrides)
    if arguments.seed is not None:
        overrides.append(f"training.seed={arguments.seed}")
    try:
        problem = load_problem(arguments.problem, overrides)
        directory = Path(arguments.out) if arguments.out else Path("runs") / problem.name
        check_folder(directory, REPORT, location="--out" if arguments.out else "--out (default runs/NAME)")
    except ProblemError as error:
        print(f"error: {error}", file=err)
        return EXIT_INVALID
    devices = configure_tensorflow()
    quiet = arguments.quiet
    if not quiet:
        print(_header(problem, devices), file=out, flush=True)

    from .run import run_problem

    display = None if quiet else ProgressDisplay(err)  # on stderr even when it is no terminal: a line every few seconds
    try:
        run = run_problem(problem, directory, progress=display if display is not None else False, plot=not arguments.no_plot)
    except ProblemError as error:  # the folder changed while training: nothing of the user's is touched
        print(f"error: {error}", file=err)
        return EXIT_INVALID
    finally:
        if display is not None:
            display.close()
    solution = run.solution
    if not quiet:
        print(summary_table(problem, solution, run.reference, run.metrics, directory, run.files), file=out)
    if solution.status.value == "interrupted":
        print(f"interrupted: {solution.message} What was reached is in {directory}/.", file=err)
        return EXIT_INTERRUPTED
    if not solution.success:
        print(f"error: {problem.file}: the solve failed: {solution.message} What was reached is in {directory}/.", file=err)
        return EXIT_FAILED
    return EXIT_OK


def run_batch_command(arguments, out: TextIO = None, err: TextIO = None) -> int:
    """Plan (validating every run first), run what is not done yet, summarise; returns the exit status.

    Ctrl-C at any moment gives exit status 130 and keeps every finished run.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run_batch_command(arguments, out, err)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept in {arguments.out}/ with a summary of them; "
              "run the same command again to do the rest.", file=err)
        return EXIT_INTERRUPTED


def _run_batch_command(arguments, out: TextIO, err: TextIO) -> int:
    """`pinn batch` after parsing: check the plan, then list it or run it and summarise; returns the exit status."""
    from .batch import is_done, read_record, run_batch

    try:
        plan, gpus, directory = _checked_batch_plan(arguments)
    except ProblemError as error:
        print(f"error: {error}", file=err)
        return EXIT_INVALID
    done = [run for run in plan.runs if is_done(read_record(directory, run), run)]
    if arguments.list:
        for run in plan.runs:
            print(f"{run.name:<40} {'done' if run in done and not arguments.force else 'to run'}  ({run.file})", file=out)
        return EXIT_OK
    to_run = len(plan.runs) if arguments.force else len(plan.runs) - len(done)
    if not arguments.quiet:
        _announce_batch(arguments, plan, gpus, directory, done, to_run, out)
    try:
        records = run_batch(plan, directory, jobs=arguments.jobs, gpus=gpus, ray_address=arguments.ray,
                            gpus_per_run=arguments.gpus_per_run, vectorize=arguments.vectorize, force=arguments.force,
                            plot=not arguments.no_plot, on_record=_batch_record_printer(arguments, to_run, out, err))
    except ProblemError as error:
        print(f"error: {error}", file=err)
        return EXIT_INVALID
    return _batch_outcome(arguments, plan, records, directory, out, err)


def _checked_batch_plan(arguments):
    """(plan, GPUs, output folder) from the batch's arguments, every option checked; raises ProblemError."""
    from .batch import check_batch_output, parse_sweep, pending_runs, plan_batch, vectorize_check
    from .batch.workers import parse_gpus

    sweeps = [parse_sweep(text) for text in arguments.sweeps]
    plan = plan_batch(arguments.problems, sweeps, arguments.overrides)
    if arguments.vectorize:
        vectorize_check(plan)
    gpus = parse_gpus(arguments.gpus)
    if arguments.ray is not None and gpus:
        raise ProblemError("--gpus is for worker processes on this machine; Ray places runs on GPUs itself",
                           location="--gpus", fix="With --ray, give --gpus-per-run 0.25 instead.")
    if arguments.gpus_per_run is not None and (arguments.ray is None or not 0 <= arguments.gpus_per_run <= 1):
        raise ProblemError("--gpus-per-run is a fraction from 0 to 1 and needs --ray", location="--gpus-per-run",
                           fix="Write e.g. --ray --gpus-per-run 0.25 (four runs share a GPU).")
    directory = Path(arguments.out)
    if not arguments.list:
        check_batch_output(plan, directory, pending_runs(plan, directory, force=arguments.force))
    return plan, gpus, directory


def _announce_batch(arguments, plan, gpus, directory, done, to_run: int, out: TextIO) -> None:
    """Print the batch's opening line: how many runs, how many to run, and where."""
    jobs = arguments.jobs or (2 * len(gpus) if gpus else 1)
    if arguments.ray is not None:
        where = f"on Ray ({arguments.ray or 'local'})"
    elif jobs > 1 or gpus:
        where = f"on {jobs} worker{'s' if jobs > 1 else ''}" + (f" over GPU {','.join(gpus)}" if gpus else "")
    else:
        where = "in this process"
    skipped = "" if arguments.force or not done else f"; {len(done)} already done in {directory}/ (--force runs them again)"
    print(f"batch: {len(plan.runs)} runs, {to_run} to run {where}{' as vectorised models' if arguments.vectorize else ''}"
          f"{skipped}", file=out, flush=True)


def _batch_record_printer(arguments, to_run: int, out: TextIO, err: TextIO):
    """The on_record callback: a numbered line per finished run, its warnings, and one warning if no GPU is seen."""
    counter = [0, 0]  # runs reported, GPU warning given

    def on_record(record) -> None:
        counter[0] += 1
        if not arguments.quiet:
            print(f"  [{counter[0]:>{len(str(to_run))}}/{to_run}] {_record_line(record)}", file=out, flush=True)
        for note in record.get("warnings", []):
            print(f"warning: {record['run']}: {note}", file=err)
        if "TensorFlow sees none" in record.get("device", "") and not counter[1]:
            counter[1] = 1
            print("warning: --gpus was given but the workers' TensorFlow sees no GPU, so the runs use the CPU. "
                  'On a GPU box: pip install "tensorflow[and-cuda]" and check nvidia-smi.', file=err)

    return on_record


def _batch_outcome(arguments, plan, records, directory, out: TextIO, err: TextIO) -> int:
    """Print the summary table (unless quiet) and any runs that did not succeed; returns the exit status."""
    from .batch import succeeded

    if not arguments.quiet:
        from .batch import markdown_table, summary_rows

        from .batch.summary import timing_note

        print(markdown_table(*summary_rows(plan, records)), file=out)
        if timing_note(records):
            print(timing_note(records), file=out)
        print(f"summary: {directory / 'summary.md'}, {directory / 'summary.csv'}", file=out)
    failed = [r for r in records if not succeeded(r)]
    if failed:
        print(f"error: {len(failed)} of {len(records)} runs did not succeed: "
              + "; ".join(f"{r['run']} ({r['status']})" for r in failed[:5]) + ("; ..." if len(failed) > 5 else "")
              + f". Details in {directory / 'summary.md'}.", file=err)
        return EXIT_FAILED
    return EXIT_OK


def _record_line(record) -> str:
    """One finished run: its name, status, errors per unknown, time and where it ran."""
    from .batch import first_line

    errors = ", ".join(f"{u} {_format(e.get('relative_l2'))}" for u, e in record.get("errors", {}).items())
    seconds, stacked = record.get("train_seconds"), record.get("stacked") or 0
    timing = f"  train {seconds:.1f} s" if seconds is not None else ""  # the closing table's "train s"
    if timing and stacked > 1:
        timing += f" shared by {stacked} stacked runs"
    device = f"  ({record['device']})" if record.get("device") else ""
    message = f"  {first_line(record.get('message'))}" if record["status"] not in ("converged", "max_steps") and record.get("message") else ""
    return f"{record['run']}  {record['status']}" + (f"  {errors}" if errors else "") + timing + device + message


def _header(problem, devices: str = "CPU") -> str:
    if getattr(problem, "dimension", 1) == 2:
        return _field_header(problem, devices)
    low, high = problem.domain
    lines = [f"{problem.name}: {problem.description}" if problem.description else problem.name]
    spec = problem.network
    kind = {"ivp": "IVP", "bvp": "BVP", "fit": "fit to data"}[problem.kind]
    if problem.equations and problem.data is not None and not problem.conditions:
        kind = "equations with data"
    points = ""
    if problem.equations or problem.training.smoothness.weight > 0:
        points = f", {problem.training.points} {problem.training.sampler} points"
    data = f", {len(problem.data)} observations" if problem.data is not None else ""
    lines.append(
        f"  {kind} in {problem.variable} on [{low:g}, {high:g}], unknowns {', '.join(problem.unknowns)}; "
        f"network {'-'.join(map(str, (1, *spec.hidden, len(problem.unknowns))))} {spec.activation}, {problem.training.dtype}"
        f"{points}{data}; on {devices}"
    )
    return "\n".join(lines)


def _field_header(problem, devices: str) -> str:
    """The opening lines of a solve in two variables: what, where, the network and points."""
    spec, training = problem.network, problem.training
    kind = "evolution problem" if problem.kind == "evolution" else "steady problem"
    data = f", {len(problem.data)} observations" if problem.data is not None else ""
    lines = [f"{problem.name}: {problem.description}" if problem.description else problem.name,
             f"  {kind} in ({', '.join(problem.variables)}) on {problem.domain}, unknowns {', '.join(problem.unknowns)}; "
             f"network {'-'.join(map(str, (2, *spec.hidden, len(problem.unknowns))))} {spec.activation}, {training.dtype}, "
             f"{training.points} {training.sampler} points{data}; on {devices}"]
    return "\n".join(lines)


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2e}"
    return str(value)


def summary_table(problem, solution, reference, metrics, directory, files) -> str:
    """The closing table: errors per unknown and derivative, parameters, status, time, files."""
    from .report import column_name

    rows = [("", "against", "relative L2", "max abs")]
    errors = metrics.get("errors", {})
    for u in problem.unknowns:
        entry = errors.get(u)
        if not entry:
            continue
        rows.append((u, entry.get("against", "-"), _format(entry.get("relative_l2")), _format(entry.get("max_abs"))))
        for order, sub in sorted((entry.get("derivatives") or {}).items(), key=lambda item: int(item[0])):  # one variable
            rows.append((column_name(u, int(order)), sub.get("against", entry.get("against", "-")),
                         _format(sub.get("relative_l2")), _format(sub.get("max_abs"))))
    lines = []
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for index, row in enumerate(rows):
            lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
    else:
        why = reference.message if reference is not None else "no exact solution and no reference"
        lines.append(f"  errors: none computed ({why})")
    singular = (metrics.get("reference") or {}).get("singular_points")
    if singular:
        lines.append(f"  {metrics['reference']['source']}: {singular['note']}")
    for name, rms in solution.equation_residuals.items():
        lines.append(f"  {name} RMS residual at fresh points: {rms:.2e}")
    for number, attempt in enumerate(solution.attempts):
        repair = ("marched in time windows (training.windows: auto)" if attempt.get("repair") == "windows" else
                  "trained again with the window growing from the initial point (training.causal: auto)")
        lines.append(f"  {('first', 'second')[min(number, 1)]} attempt ({attempt['steps']}, {attempt['train_seconds']:.1f} s) "
                     f"failed its check; {repair}")
    if solution.windows:
        failed = sum(not w.passed for w in solution.windows)
        lines.append(f"  windows {len(solution.windows)} from {solution.windows[0].low:g} to {solution.windows[-1].high:g}"
                     + (f", {failed} failed their own checks" if failed else ", each passed its own check"))
    verification = solution.verification
    if verification is not None:
        lines.append(f"  checks  {verification.verdict}: {len(verification.checks) - len(verification.failed)} of "
                     f"{len(verification.checks)} passed")
        for check in verification.failed:
            lines.append(f"    FAILED {check.name}: {check.figure:.2e} > {check.threshold:.0e} ({check.detail})")
    reference_line = (metrics.get("reference") or {})
    if getattr(problem, "dimension", 1) == 2 and reference_line.get("source", "none") != "none":
        accuracy = reference_line.get("accuracy")
        lines.append(f"  reference {reference_line['source']}" + (f", own accuracy {accuracy:.1e}" if accuracy else "")
                     + ("" if reference_line.get("success") else f" (failed: {reference_line.get('message')})"))
    for name, value in solution.parameters.items():
        p = problem.parameter(name)
        if p.trainable:
            truth = f" (true {p.true_value:g})" if p.true_value is not None else ""
            lines.append(f"  parameter {name} = {value:.8g}{truth}")
    training = solution.training
    lines.append(f"  status  {solution.status.value}: {solution.message}")
    lines.append(f"  steps   {training.summary()} in {training.train_seconds:.1f} s, "
                 f"lowest loss {solution.final_loss:.2e}")
    lines.append(f"  files   {directory}/: {', '.join(sorted(p.name for p in files.values()))}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
