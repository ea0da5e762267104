"""Text embeddings through LiteLLM (OpenAI, Ollama, Azure, …): the production alternative to
the embedded all-MiniLM-L6-v2 model used by the skill library."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from evofuse.errors import EmbeddingCallError
from evofuse.llm.redact import Redactor


def embed_texts(model: str, texts: Sequence[str], **litellm_params: Any) -> list[list[float]]:
    """Embed `texts` with LiteLLM `model`; extra params (api_base, api_key, …) go to LiteLLM."""
    # Offline by default: litellm otherwise fetches its price map from the internet at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    params = {k: v for k, v in litellm_params.items() if k != "model"}
    redact = Redactor.from_model_list([{"litellm_params": params}])
    try:
        response = litellm.embedding(model=model, input=list(texts), **params)
    except Exception as exc:  # LiteLLM maps every provider failure to its own exception types
        raise EmbeddingCallError(
            f"Embedding model {model!r} failed: {redact(str(exc))}",
            hint="Check the model name, api_base and API key of the embedding backend "
            "(skills.embedding).",
        ) from exc
    try:
        rows = sorted(response.data, key=lambda item: _get(item, "index"))
        vectors = [[float(x) for x in _get(item, "embedding")] for item in rows]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise EmbeddingCallError(
            f"Embedding model {model!r} returned a malformed answer: {exc}"
        ) from exc
    if len(vectors) != len(texts):
        raise EmbeddingCallError(
            f"Embedding model {model!r} returned {len(vectors)} vectors for {len(texts)} texts."
        )
    return vectors


def _get(item: Any, key: str) -> Any:
    # LiteLLM hands back dicts for some providers and objects for others.
    return item[key] if isinstance(item, dict) else getattr(item, key)
