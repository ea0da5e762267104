"""Moved: the fake models live in `evofuse.testing` (the scripted upstream, `ScriptedGateway`,
`judge_reply`, `candidate_labels`). This alias only keeps tests written against the old name
working while they move; new tests import from `evofuse.testing`."""

from evofuse.testing import judge_reply as verdict

__all__ = ["verdict"]
