"""One error tree: every exception class a caller may see is defined in `evofuse.errors`.

Read from the source with `ast`: a class deriving from an exception, anywhere else in the
package, must be one of the few that never leave the package that raises them.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import evofuse.errors as errors

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "evofuse"

# Control flow a package raises and catches itself, and the HTTP layer's own error type.
STAY_WHERE_RAISED = {
    "api/errors.py": {"ApiError"},  # the HTTP layer's errors, already in OpenAI's shape
    "evolution/cycle.py": {"_LeaseLost"},  # the cycle stops when its lease is taken over
    "evolution/thinker.py": {"BudgetExhausted", "UnparseableAnswer"},  # caught by the cycle
    "evolution/patch.py": {"PatchError"},  # an Evolver proposal the gate refuses, with why
    # The dashboard's own handlers turn these into a redirect to its login page or a 403 page.
    "ui/session.py": {"CsrfError", "LoginRequired"},
}

EXCEPTION_BASES = {"Exception", "ValueError", "LookupError", "RuntimeError", "TypeError"}


def exception_classes(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            }
            if bases & (known | EXCEPTION_BASES):
                found.add(node.name)
    return found


def test_every_error_a_caller_may_see_lives_in_the_error_tree() -> None:
    tree = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception)
    }
    strays = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where == "errors.py":
            continue
        extra = exception_classes(path, tree) - STAY_WHERE_RAISED.get(where, set())
        if extra:
            strays[where] = sorted(extra)
    assert strays == {}


def test_every_error_of_the_tree_has_a_code_and_a_status() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, errors.EvoFuseError)
    ]
    assert len(classes) >= 20
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), "each error has its own code"
    assert all(400 <= c.http_status < 600 for c in classes)
    assert errors.DeadlineExceededError.http_status == 504
    assert errors.DeadlineExceededError(2.0).code == "deadline_exceeded"
