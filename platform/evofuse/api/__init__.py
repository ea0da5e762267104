"""The HTTP API: OpenAI-compatible chat completions, runs, feedback and skills (FastAPI)."""

from evofuse.api.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
