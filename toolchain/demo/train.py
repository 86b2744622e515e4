"""Train the demo transformer with PyTorch (CPU), the llama2.c way.

The network is written to compute exactly what run.c computes -- RMSNorm
(eps 1e-5), rotary embeddings on interleaved pairs with run.c's
frequencies, causal multi-head attention, a SwiGLU feed-forward, a
classifier shared with the token embedding -- so the exported weights mean
the same thing to the engine.  PyTorch is optional: it is imported only
here, and ``make`` says how to install it when it is missing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from toolchain.llama2.checkpoint import Config, rope_tables

EPS = 1e-5


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def _rope(config: Config, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin (length, head_size/2): run.c's angle pos / 10000^(2j/head_size)."""
    hs = config.head_size
    freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), freqs)
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x0, x1) of each head; x is (B, T, H, hs)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.attention_norm = RMSNorm(c.dim)
        self.wq = nn.Linear(c.dim, c.n_heads * c.head_size, bias=False)
        self.wk = nn.Linear(c.dim, c.kv_dim, bias=False)
        self.wv = nn.Linear(c.dim, c.kv_dim, bias=False)
        self.wo = nn.Linear(c.n_heads * c.head_size, c.dim, bias=False)
        self.ffn_norm = RMSNorm(c.dim)
        self.w1 = nn.Linear(c.dim, c.hidden_dim, bias=False)
        self.w2 = nn.Linear(c.hidden_dim, c.dim, bias=False)
        self.w3 = nn.Linear(c.dim, c.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        c = self.c
        B, T, _ = x.shape
        h = self.attention_norm(x)
        q = _rotate(self.wq(h).view(B, T, c.n_heads, c.head_size), cos, sin)
        k = _rotate(self.wk(h).view(B, T, c.n_kv_heads, c.head_size), cos, sin)
        v = self.wv(h).view(B, T, c.n_kv_heads, c.head_size)
        if c.kv_mul > 1:
            k = k.repeat_interleave(c.kv_mul, dim=2)
            v = v.repeat_interleave(c.kv_mul, dim=2)
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )
        x = x + self.wo(att.transpose(1, 2).reshape(B, T, -1))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Model(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.tok_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.dim)
        cos, sin = _rope(c, c.seq_len)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c.n_layers) if name.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos[:T], self.sin[:T])
        return self.norm(x) @ self.tok_embeddings.weight.T  # shared classifier

    def export(self) -> dict[str, np.ndarray]:
        """The weights by llama2.c tensor name (see checkpoint.tensor_layout)."""
        def stack(attr: str) -> np.ndarray:
            return torch.stack([getattr(layer, attr.split(".")[0]).weight for layer in self.layers]
                               ).detach().numpy()

        cos, sin = rope_tables(self.c)
        return {
            "token_embedding_table": self.tok_embeddings.weight.detach().numpy(),
            "rms_att_weight": stack("attention_norm"),
            "wq": stack("wq"), "wk": stack("wk"), "wv": stack("wv"), "wo": stack("wo"),
            "rms_ffn_weight": stack("ffn_norm"),
            "w1": stack("w1"), "w2": stack("w2"), "w3": stack("w3"),
            "rms_final_weight": self.norm.weight.detach().numpy(),
            "freq_cis_real": cos, "freq_cis_imag": sin,
        }


def train(
    tokens: np.ndarray,
    config: Config,
    *,
    seconds: float,
    seed: int,
    batch: int = 16,
    lr: float = 3e-3,
    say: Callable[[str], object] = print,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Train on the token stream for ``seconds`` (one CPU thread); weights and stats.

    The learning rate warms up for 30 steps and decays on a cosine over the
    time budget (progress is measured in elapsed time, not steps, so a slow
    or busy machine still gets a full schedule).
    """
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(tokens.astype(np.int64))
    n_val = len(data) // 20
    val, trn = data[:n_val], data[n_val:]
    model = Model(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    T = config.seq_len

    def sample(src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(0, len(src) - T - 1, (batch,), generator=gen)
        x = torch.stack([src[i : i + T] for i in ix])
        y = torch.stack([src[i + 1 : i + T + 1] for i in ix])
        return x, y

    start = time.monotonic()
    step = 0
    loss_value = float("nan")
    while True:
        done = (time.monotonic() - start) / seconds
        if done >= 1.0:
            break
        warm = min(1.0, (step + 1) / 30)
        for group in opt.param_groups:
            group["lr"] = lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))
        x, y = sample(trn)
        loss = F.cross_entropy(model(x).view(-1, config.vocab_size), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_value = float(loss.detach())
        if step % 50 == 0:
            say(f"step {step:5d}  {time.monotonic() - start:6.0f} s  loss {loss_value:.3f}")
        step += 1
    model.eval()
    with torch.no_grad():
        vx, vy = sample(val)
        val_loss = float(F.cross_entropy(model(vx).view(-1, config.vocab_size), vy.view(-1)))
    say(f"done: {step} steps, train loss {loss_value:.3f}, validation loss {val_loss:.3f}")
    return model.export(), {"steps": step, "train_loss": loss_value, "val_loss": val_loss,
                            "seconds": time.monotonic() - start}
