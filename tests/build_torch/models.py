"""Small torch models for the build tests, as factories (``tests.build_torch.models:NAME``)."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class CumsumCNN(TinyCNN):
    """A CNN with an op XNNPACK does not take (cumsum): it must show up as fallen back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        y = torch.cumsum(y, dim=1)
        return self.fc(y.flatten(1))


class DataDependent(TinyCNN):
    """Python control flow on a tensor's value: torch.export cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.fc(torch.relu(self.conv(x)).flatten(1))
        return self.fc(self.conv(x).flatten(1))


def tiny_cnn():
    torch.manual_seed(0)
    return TinyCNN().eval(), (torch.zeros(1, 1, 8, 8),)


def cumsum_cnn():
    torch.manual_seed(0)
    return CumsumCNN().eval(), (torch.zeros(1, 1, 8, 8),)


def wrong_example():
    torch.manual_seed(0)
    return TinyCNN().eval(), (torch.zeros(1, 3, 32, 32),)  # the conv takes 1 channel, 8x8


def data_dependent():
    torch.manual_seed(0)
    return DataDependent().eval(), (torch.ones(1, 1, 8, 8),)


def no_example():
    return TinyCNN().eval()
