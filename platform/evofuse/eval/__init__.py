"""`evofuse eval`: which fusion mode is worth it for a set of tasks with checkable answers."""

from evofuse.errors import SuiteError
from evofuse.eval.harness import evaluate, run_eval
from evofuse.eval.report import ArmSummary, EvalReport
from evofuse.eval.suites import Suite, SuiteItem, load_suite, reasoning_gym_suite

__all__ = [
    "ArmSummary",
    "EvalReport",
    "Suite",
    "SuiteError",
    "SuiteItem",
    "evaluate",
    "load_suite",
    "reasoning_gym_suite",
    "run_eval",
]
