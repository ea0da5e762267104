"""Embedding backends: the LiteLLM path (faked at the HTTP boundary) and the no-mixing rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
import respx

from evofuse.errors import ConfigError, EmbeddingCallError
from evofuse.llm.embeddings import embed_texts
from evofuse.skills import (
    EmbeddingMismatchError,
    LiteLLMEmbedder,
    MiniLMEmbedder,
    SkillIndex,
    chroma_client,
    make_embedder,
)

API = "http://embeddings.test/v1"


def fake_openai_embeddings(dimension: int) -> respx.MockRouter:
    router = respx.mock(assert_all_called=True)

    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(t)), 1.0] + [0.0] * (dimension - 2),
            }
            for i, t in enumerate(texts)
        ]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": "emb",
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            },
        )

    router.post(f"{API}/embeddings").mock(side_effect=answer)
    return router


def test_litellm_backend_calls_the_provider_and_learns_the_dimension() -> None:
    model_list = [
        {
            "model_name": "emb",
            "litellm_params": {
                "model": "openai/text-embedding-3-small",
                "api_base": API,
                "api_key": "sk-test-123456",
            },
        }
    ]
    embedder = make_embedder("litellm/emb", model_list)
    assert isinstance(embedder, LiteLLMEmbedder)
    assert embedder.name == "litellm/openai/text-embedding-3-small"
    with fake_openai_embeddings(8) as router:
        vectors = embedder.embed(["ab", "abcd"])
        assert embedder.dimension == 8  # learned from the answer: no second call
        assert len(router.calls) == 1
        sent = json.loads(router.calls[0].request.content)
    assert [v[:2] for v in vectors] == [[2.0, 1.0], [4.0, 1.0]]
    assert sent["input"] == ["ab", "abcd"] and sent["model"] == "text-embedding-3-small"


def test_provider_errors_become_a_clear_error_without_the_key() -> None:
    with respx.mock() as router:
        router.post(f"{API}/embeddings").mock(
            return_value=httpx.Response(401, json={"error": {"message": "bad key sk-test-123456"}})
        )
        with pytest.raises(EmbeddingCallError) as caught:
            embed_texts("openai/x", ["a"], api_base=API, api_key="sk-test-123456", num_retries=0)
    assert "sk-test-123456" not in str(caught.value)
    assert caught.value.hint is not None


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an embedding backend"):
        make_embedder("word2vec")


class OtherModel:
    """A second embedding space, to show the index refuses to mix it with MiniLM's."""

    name = "other/model"
    dimension = 384

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * 383 for _ in texts]


class WrongSize(MiniLMEmbedder):
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[0.5] * 10 for _ in texts]


def test_an_index_refuses_another_backend_and_reindex_rebuilds_it(tmp_path: Path) -> None:
    location = str(tmp_path / "chroma")
    first = SkillIndex(chroma_client(location), MiniLMEmbedder(), "mix")
    first.close()
    with pytest.raises(EmbeddingMismatchError) as caught:
        SkillIndex(chroma_client(location), OtherModel(), "mix")
    assert (
        "minilm/all-MiniLM-L6-v2" in caught.value.message and "other/model" in caught.value.message
    )
    assert caught.value.hint is not None and "evofuse skills reindex" in caught.value.hint
    rebuilt = SkillIndex(chroma_client(location), OtherModel(), "mix", rebuild=True)
    assert rebuilt.backend == "other/model"
    rebuilt.close()


def test_vectors_of_the_wrong_dimension_are_refused(tmp_path: Path) -> None:
    index = SkillIndex(chroma_client(str(tmp_path / "c")), WrongSize(), "dims")
    try:
        with pytest.raises(EmbeddingMismatchError, match="10-dimensional"):
            index.embed(["text"])
    finally:
        index.close()
