"""The only place that talks to LiteLLM (enforced by ruff's banned-api rule)."""

from evofuse.errors import LLMCallError
from evofuse.llm.gateway import CallResult, Gateway, Message, Price, preload_in_background
from evofuse.llm.protocol import ModelGateway
from evofuse.llm.redact import Redactor

__all__ = [
    "CallResult",
    "Gateway",
    "LLMCallError",
    "Message",
    "ModelGateway",
    "Price",
    "Redactor",
    "preload_in_background",
]
