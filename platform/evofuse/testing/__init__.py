"""Test helpers for EvoFuse and for users' own tests: scripted models, over HTTP or in-process.

One script (`UpstreamScript`: a `ModelBehavior` per model name) drives both fakes:
`UpstreamServer` / `python -m evofuse.testing.upstream` serve it as an OpenAI-compatible
upstream on 127.0.0.1 (see `evofuse.testing.upstream`), and `ScriptedGateway` answers it
in-process at the gateway seam (see `evofuse.testing.gateway`).
"""

from evofuse.testing.app import create_app
from evofuse.testing.gateway import ScriptedGateway
from evofuse.testing.replies import candidate_labels, judge_reply
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
    "ScriptedGateway",
    "UpstreamScript",
    "UpstreamServer",
    "candidate_labels",
    "create_app",
    "judge_reply",
    "model_entry",
    "running_upstream",
    "upstream_process",
]
