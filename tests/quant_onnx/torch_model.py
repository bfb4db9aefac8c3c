"""A small residual CNN as a PyTorch source (``tests.quant_onnx.torch_model:make``): its ONNX export's
layers must be reported by module path (``encoder.1.conv``), not by the exporter's node names."""

from __future__ import annotations


def make():
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.act = torch.nn.ReLU()

        def forward(self, x):
            return self.act(self.conv(x)) + x

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(4, 8, 3, padding=1)
            self.encoder = torch.nn.Sequential(Block(), Block())
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.encoder(self.stem(x)).mean((2, 3)))

    torch.manual_seed(0)
    return Net().eval()
