"""Models that keep state between calls, or take constant arguments, built from code for the tests
(factories ``tests.build_torch.stateful:NAME``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Recurrent(nn.Module):
    """A voice-activity-detector-shaped model: one score per frame, a recurrent state ``h`` kept in
    a buffer and updated by forward, so every call depends on the calls before it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 1)
        self.register_buffer("h", torch.zeros(1, 1))

    def forward(self, frame: Tensor) -> Tensor:
        y = torch.sigmoid(self.lin(frame) + 3.0 * self.h - 1.5)
        self.h.copy_(0.5 * self.h + y.mean(0, keepdim=True))
        return y


class WithRate(nn.Module):
    """forward(x, sr: int): a constant argument that steers a slice (step 16000 // sr)."""

    def forward(self, x: Tensor, sr: int) -> Tensor:
        step = 16000 // sr - 1
        return torch.relu(x[:, ::step]) if step > 0 else x[:, ::-1]


def recurrent():
    torch.manual_seed(0)
    return Recurrent().eval(), (torch.zeros(1, 16),)
