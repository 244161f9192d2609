"""Batches: many problem files and parameter sweeps, each run with its own report, and a summary.

    plan_batch(paths, sweeps, overrides)  -> BatchPlan   (plan.py: every run loaded and validated first)
    run_batch(plan, out, jobs=2)          -> records     (workers.py: this process, worker processes, GPUs;
                                                          on_ray.py: a Ray cluster)
    execute_task(task, root)              -> records     (execute.py: one task through pinn.run.run_problem)
    write_summary(plan, out)                             (summary.py: summary.csv and summary.md)

``--sweep KEY=VALUES`` is read in sweep.py.  No TensorFlow at import.
"""

from .execute import execute_task, failure_record, finish_run, first_line, succeeded
from .plan import (CRASHED, ERROR, FINISHED, NOT_RUN, PARTIAL, RUN_RECORD, SUMMARY_CSV, SUMMARY_MD, BatchPlan, BatchRun,
                   Task, check_batch_output, is_done, pending_runs, plan_batch, problem_files, read_record, tasks_for,
                   vectorize_check)
from .summary import markdown_table, summary_csv_text, summary_records, summary_rows, write_summary
from .sweep import Sweep, parse_sweep, point_label, sweep_points
from .workers import run_batch

__all__ = ["BatchPlan", "BatchRun", "Sweep", "Task", "check_batch_output", "execute_task", "failure_record", "finish_run",
           "first_line", "is_done", "markdown_table", "parse_sweep", "pending_runs", "plan_batch", "point_label",
           "problem_files", "read_record", "run_batch", "succeeded", "summary_csv_text", "summary_records", "summary_rows",
           "sweep_points", "tasks_for", "vectorize_check", "write_summary", "CRASHED", "ERROR", "FINISHED", "NOT_RUN",
           "PARTIAL", "RUN_RECORD", "SUMMARY_CSV", "SUMMARY_MD"]
