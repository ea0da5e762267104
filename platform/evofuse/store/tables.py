"""Every table, imported in one place so that SQLModel.metadata (and alembic) see them all.

Later tables (runs, steps, evolution) get their own small module and one import line here.
"""

from evofuse.store.audit import AuditRow
from evofuse.store.evolution import CanaryRow, EvolutionRunRow, LeaseRow
from evofuse.store.feedback import FeedbackRow
from evofuse.store.keys import ApiKeyRow
from evofuse.store.outcomes import OutcomeRow
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow
from evofuse.store.skills import SkillFileRow, SkillRow, SkillVersionRow
from evofuse.store.support import SupportRow

__all__ = [
    "ApiKeyRow",
    "AuditRow",
    "CanaryRow",
    "CandidateRow",
    "EvolutionRunRow",
    "FeedbackRow",
    "LeaseRow",
    "OutcomeRow",
    "RunRow",
    "SkillFileRow",
    "SkillRow",
    "SkillVersionRow",
    "StepRow",
    "SupportRow",
    "VerdictRow",
]
