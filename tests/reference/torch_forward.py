#!/usr/bin/python3
"""Reference forward pass for the engine's correctness tests (tests/engine/cpu_backend_reference_test.cpp,
tests/engine/embedding_reference_test.cpp).

Plain PyTorch, written from the semantics of Hugging Face's modeling_llama.py, modeling_qwen2.py
and Nemotron's modeling_decilm.py, sharing no code with the engine:
  - RMSNorm: x * rsqrt(mean(x^2) + eps) * weight.
  - RoPE in the Hugging Face (rotate-half) layout on the first rope_dim dimensions of each head;
    inverse frequencies theta^(-2i/rope_dim), scaled as `_compute_linear_scaling_rope_parameters`
    (divide by the factor) or `_compute_llama3_parameters` (long wavelengths divided by the factor,
    the band between low and high frequency blended), or divided by GGUF rope_freqs divisors.
  - Grouped-query attention with keys and values expanded by repeat_interleave; causal by position,
    or bidirectional (every token sees every token) when the config says "causal": false.
  - SwiGLU MLP; deci blocks whose attention or FFN is skipped (no norm either) or replaced by
    one linear map after its norm; tied or separate output projection.
Everything runs in float64 (weights are read as float32), and rotation angles are formed in
float64, so the reference is the exact value the engine's float32 arithmetic approximates. (HF
forms angles in float32, which at position 100,000 is off by ~1e-2 radians.)

Usage: torch_forward.py DIR. DIR/config.json describes the model, names raw little-endian float32
tensor files (Hugging Face names and shapes), and gives `tokens`, `positions` and `greedy_steps`.
Writes DIR/logits.f64 (float64 [len(tokens), vocab]) and DIR/greedy.json ({"tokens": [...]}, the
greedy continuation after the last token at the following positions).

Embedding mode, when the config has "embedding": {"pooling": "mean" | "first" | "last",
"normalize": bool}: the hidden states after the final norm (what the output projection reads,
and what llama.cpp returns as embeddings) are pooled over the tokens (their mean, or the first or
the last token's) and, when normalize, divided by their L2 norm. Writes DIR/embedding.f64
(float64 [hidden_size]) instead of the logits.
"""
import json
import math
import os
import sys

import numpy as np
import torch


def load_tensors(directory, config):
    tensors = {}
    for name, spec in config["tensors"].items():
        data = np.fromfile(os.path.join(directory, spec["file"]), dtype="<f4")
        expected = int(np.prod(spec["shape"]))
        if data.size != expected:
            raise SystemExit(f"{spec['file']}: {data.size} values, expected {expected} for {name}")
        tensors[name] = torch.from_numpy(data.astype(np.float64)).reshape(spec["shape"])
    return tensors


def inverse_frequencies(config, tensors):
    rope_dim = config["rope_dim"]
    inv_freq = 1.0 / (config["rope_theta"] ** (torch.arange(0, rope_dim, 2, dtype=torch.float64) / rope_dim))
    scaling = config["rope_scaling"]
    if scaling["type"] == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif scaling["type"] == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        original = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / inv_freq
        scaled = torch.where(wavelength > original / low, inv_freq / factor, inv_freq)
        smooth = (original / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        in_band = ~(wavelength < original / high) & ~(wavelength > original / low)
        inv_freq = torch.where(in_band, blended, scaled)
    if "rope_freqs" in tensors:
        inv_freq = inv_freq / tensors["rope_freqs"]
    return inv_freq


def rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(x, cos, sin, rope_dim):
    # x: [heads, tokens, head_dim]; cos/sin: [tokens, rope_dim]
    rotated, passed = x[..., :rope_dim], x[..., rope_dim:]
    return torch.cat((rotated * cos + rotate_half(rotated) * sin, passed), dim=-1)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class Reference:
    def __init__(self, config, tensors):
        self.c = config
        self.t = tensors
        self.inv_freq = inverse_frequencies(config, tensors)

    def linear(self, x, name, bias=None):
        y = x @ self.t[name].T
        if bias is not None and bias in self.t:
            y = y + self.t[bias]
        return y

    def attention(self, h, i, layer, positions):
        c = self.c
        p = f"model.layers.{i}.self_attn."
        n_heads, n_kv, head_dim = layer["n_heads"], layer["n_kv_heads"], c["head_dim"]
        n = h.shape[0]
        q = self.linear(h, p + "q_proj.weight", p + "q_proj.bias").view(n, n_heads, head_dim).transpose(0, 1)
        k = self.linear(h, p + "k_proj.weight", p + "k_proj.bias").view(n, n_kv, head_dim).transpose(0, 1)
        v = self.linear(h, p + "v_proj.weight", p + "v_proj.bias").view(n, n_kv, head_dim).transpose(0, 1)
        angles = positions.to(torch.float64)[:, None] * self.inv_freq[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        q = apply_rope(q, angles.cos(), angles.sin(), c["rope_dim"])
        k = apply_rope(k, angles.cos(), angles.sin(), c["rope_dim"])
        k = k.repeat_interleave(n_heads // n_kv, dim=0)
        v = v.repeat_interleave(n_heads // n_kv, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(head_dim)
        if self.c.get("causal", True):
            hidden_from_future = positions[None, :] > positions[:, None]
            scores = scores.masked_fill(hidden_from_future, float("-inf"))
        mixed = torch.softmax(scores, dim=-1) @ v
        mixed = mixed.transpose(0, 1).reshape(n, n_heads * head_dim)
        return self.linear(mixed, p + "o_proj.weight", p + "o_proj.bias")

    def mlp(self, h, i):
        p = f"model.layers.{i}.mlp."
        gate = self.linear(h, p + "gate_proj.weight")
        return self.linear(torch.nn.functional.silu(gate) * self.linear(h, p + "up_proj.weight"), p + "down_proj.weight")

    def hidden_states(self, tokens, positions):
        """The final-normed hidden state of every token: [len(tokens), hidden_size]."""
        c = self.c
        x = self.t["model.embed_tokens.weight"][tokens]
        for i, layer in enumerate(c["layers"]):
            p = f"model.layers.{i}."
            if layer["attention"] != "no_op":
                h = rms_norm(x, self.t[p + "input_layernorm.weight"], c["rms_eps"])
                if layer["attention"] == "linear":
                    x = x + self.linear(h, p + "self_attn.linear_attn.weight")
                else:
                    x = x + self.attention(h, i, layer, positions)
            if layer["ffn"] != "no_op":
                h = rms_norm(x, self.t[p + "post_attention_layernorm.weight"], c["rms_eps"])
                if layer["ffn"] == "linear":
                    x = x + self.linear(h, p + "mlp.linear_mlp.weight")
                else:
                    x = x + self.mlp(h, i)
        return rms_norm(x, self.t["model.norm.weight"], c["rms_eps"])

    def logits(self, tokens, positions):
        output = "model.embed_tokens.weight" if self.c["tied_embeddings"] else "lm_head.weight"
        return self.hidden_states(tokens, positions) @ self.t[output].T

    def embedding(self, tokens, positions, pooling, normalize):
        hidden = self.hidden_states(tokens, positions)
        if pooling == "mean":
            pooled = hidden.mean(dim=0)
        elif pooling == "first":
            pooled = hidden[0]
        elif pooling == "last":
            pooled = hidden[-1]
        else:
            raise SystemExit(f"unknown pooling {pooling!r}")
        return pooled / pooled.norm() if normalize else pooled


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: torch_forward.py DIR")
    directory = sys.argv[1]
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model = Reference(config, load_tensors(directory, config))
    tokens = torch.tensor(config["tokens"], dtype=torch.long)
    positions = torch.tensor(config["positions"], dtype=torch.long)
    if "embedding" in config:
        spec = config["embedding"]
        with torch.no_grad():
            embedding = model.embedding(tokens, positions, spec["pooling"], spec["normalize"])
        embedding.numpy().astype("<f8").tofile(os.path.join(directory, "embedding.f64"))
        return
    with torch.no_grad():
        model.logits(tokens, positions).numpy().astype("<f8").tofile(os.path.join(directory, "logits.f64"))
        continuation = []
        for _ in range(config["greedy_steps"]):
            next_token = int(model.logits(tokens, positions)[-1].argmax())
            continuation.append(next_token)
            tokens = torch.cat((tokens, torch.tensor([next_token])))
            positions = torch.cat((positions, positions[-1:] + 1))
    with open(os.path.join(directory, "greedy.json"), "w") as f:
        json.dump({"tokens": continuation}, f)


if __name__ == "__main__":
    main()
