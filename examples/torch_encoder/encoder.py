"""A small BERT-style sentence encoder built in code, for the int8 accuracy loop (issue 19).

What makes it a fair test of transformer quantization, not a toy:

- int64 token ids in, with padding (id 0); the attention mask and the position ids are built
  *inside* the model from the ids with integer arithmetic (``ids != pad``, a cumulative sum times the
  mask plus an offset, RoBERTa style). This is the glue the XNNPACK quantizer used to turn into float
  tensors (calibration then failed with "tensors used as indices must be long").
- token + position embeddings, post-attention and post-FFN layer norms, multi-head attention with
  ``scaled_dot_product_attention`` and a boolean key mask, GELU feed-forward, masked mean pooling,
  L2-normalised output (an embedding, judged by cosine and nearest-neighbour agreement).
- realistic activation statistics: trained BERTs carry a few *outlier dimensions* in the residual
  stream (layer-norm gains one or two orders of magnitude above the rest; Bondarenko et al., 2021,
  "Understanding and Overcoming the Challenges of Efficient Transformer Quantization"). Static
  per-tensor int8 of the activations spends its whole range on those dimensions and the rest of the
  signal drowns, exactly the silent loss measured on a real encoder here. Random weights without
  them quantize too well to test anything.

Deterministic: weights from ``torch.manual_seed(seed)``; token data from numpy's default_rng.
Builds in well under a second (4 layers, width 64, vocabulary 1000, 32 tokens).
"""

from __future__ import annotations

import os

import numpy as np

VOCAB = 1000
SEQ = 32
WIDTH = 64
HEADS = 4
LAYERS = 4
FFN = 256
PAD = 0
OUTLIER_DIMS = (7, 41)  # residual-stream dimensions with large layer-norm gains
OUTLIER_GAIN = 40.0


def build_encoder(seed: int = 0, layers: int = LAYERS, outlier_gain: float = OUTLIER_GAIN):
    """The encoder module (eval mode) with deterministic, realistic weights."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Linear(WIDTH, WIDTH)
            self.k = nn.Linear(WIDTH, WIDTH)
            self.v = nn.Linear(WIDTH, WIDTH)
            self.out = nn.Linear(WIDTH, WIDTH)

        def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
            b, t, _ = x.shape
            hd = WIDTH // HEADS

            def heads(y: torch.Tensor) -> torch.Tensor:
                return y.view(b, t, HEADS, hd).transpose(1, 2)

            q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
            return self.out(y.transpose(1, 2).reshape(b, t, WIDTH))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = Attention()
            self.ln1 = nn.LayerNorm(WIDTH)
            self.fc1 = nn.Linear(WIDTH, FFN)
            self.fc2 = nn.Linear(FFN, WIDTH)
            self.ln2 = nn.LayerNorm(WIDTH)

        def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
            x = self.ln1(x + self.attn(x, keep))
            return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))

    class Encoder(nn.Module):
        """input_ids [1, SEQ] int64 (0 = padding) -> L2-normalised sentence embedding [1, WIDTH]."""

        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
            self.positions = nn.Embedding(SEQ + 2, WIDTH)
            self.ln_embed = nn.LayerNorm(WIDTH)
            self.layers = nn.ModuleList(Block() for _ in range(layers))

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            keep = input_ids != PAD  # bool [B, T]
            mask = keep.to(torch.int64)
            # RoBERTa position ids: integer arithmetic on int64 tensors (add/mul with scalars).
            position_ids = torch.cumsum(mask, dim=1) * mask + 1
            x = self.ln_embed(self.tokens(input_ids) + self.positions(position_ids))
            for layer in self.layers:
                x = layer(x, keep)
            weights = mask.to(x.dtype).unsqueeze(-1)
            pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return F.normalize(pooled, dim=-1)

    torch.manual_seed(seed)
    model = Encoder()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                nn.init.normal_(p, std=0.02)
            elif p.dim() == 2:
                nn.init.normal_(p, std=0.05 if "tokens" in name or "positions" in name else 1.0 / np.sqrt(p.shape[1]))
        for mod in model.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + 0.1 * torch.randn(WIDTH))
                mod.bias.copy_(0.05 * torch.randn(WIDTH))
                for d in OUTLIER_DIMS:
                    mod.weight[d] = outlier_gain
    return model.eval()


def encoder():
    """Factory ``examples.torch_encoder.encoder:encoder``: (model, example input_ids)."""
    import torch

    ids = torch.from_numpy(token_ids(1, seed=99))
    return build_encoder(), (ids,)


def token_ids(n: int, seed: int = 0) -> np.ndarray:
    """``n`` sentences of token ids [n, SEQ] int64: Zipf-distributed words (a few frequent, a long
    tail), lengths 6..SEQ, right-padded with 0."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB)
    p = 1.0 / ranks**1.1
    p /= p.sum()
    out = np.zeros((n, SEQ), dtype=np.int64)
    for i in range(n):
        length = int(rng.integers(6, SEQ + 1))
        out[i, :length] = rng.choice(ranks, size=length, p=p)
    return out


SPEC = """\
# Build spec of the BERT-style encoder example: static and dynamic int8, and the repaired mix.
source = "examples.torch_encoder.encoder:encoder"
targets = ["executorch-xnnpack", "executorch-xnnpack-int8", "executorch-xnnpack-dynamic-int8",
           "executorch-xnnpack-int8-mixed"]
outdir = "artifacts"

[calibration]
path = "calibration.npz"    # input_ids [N, 32] int64
count = 64

[evaluation]
path = "evaluation.npz"     # held-out sentences, never calibrated on
eval_count = 32
"""


def prepare(workdir: str, calibration: int = 64, evaluation: int = 32) -> dict:
    """Write calibration and evaluation token ids (.npz, int64) and the spec into ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    cal = os.path.join(workdir, "calibration.npz")
    ev = os.path.join(workdir, "evaluation.npz")
    np.savez(cal, input_ids=token_ids(calibration, seed=1))
    np.savez(ev, input_ids=token_ids(evaluation, seed=2))
    spec = os.path.join(workdir, "edgekit.toml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write(SPEC)
    return {"spec": spec, "calibration": cal, "evaluation": ev}
