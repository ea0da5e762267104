"""The embedded local model: a llama.cpp OpenAI-compatible server that EvoFuse starts itself.

It lets the default configuration (and `make demo`) run a real fusion offline, with no API key.
"""

from evofuse.errors import LocalModelSetupError, LocalModelStartError
from evofuse.localmodel.server import (
    DEFAULT_LOG_PATH,
    LocalModelServer,
    Probe,
    default_model_path,
    local_model_running,
    probe,
    server_command,
)

__all__ = [
    "DEFAULT_LOG_PATH",
    "LocalModelServer",
    "LocalModelSetupError",
    "LocalModelStartError",
    "Probe",
    "default_model_path",
    "local_model_running",
    "probe",
    "server_command",
]
