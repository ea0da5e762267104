"""Test helpers for EvoFuse and for users' own tests: a scripted OpenAI-compatible upstream.

See `evofuse.testing.upstream` for the overview; run it with `python -m evofuse.testing.upstream`.
"""

from evofuse.testing.app import create_app
from evofuse.testing.script import (
    DEFAULT_API_KEY,
    JUDGE,
    ModelBehavior,
    RecordedRequest,
    UpstreamScript,
    model_entry,
)
from evofuse.testing.server import UpstreamServer, running_upstream, upstream_process

__all__ = [
    "DEFAULT_API_KEY",
    "JUDGE",
    "ModelBehavior",
    "RecordedRequest",
    "UpstreamScript",
    "UpstreamServer",
    "create_app",
    "model_entry",
    "running_upstream",
    "upstream_process",
]
