"""A MobileNetV2-shaped network (width 1.0, 224x224, 1000 classes) with random weights, from code.

For size and latency only: no pretrained weights are downloaded (torchvision is not a dependency).
The layer list is MobileNetV2's (Sandler et al. 2018: inverted residual blocks with expansion 6,
depthwise 3x3, linear bottlenecks, ReLU6), so the op mix, the parameter count (3.5 M) and the MACs
(~300 M) match the real network. Random init has a catch, measured on the Keras twin: BatchNorm's
default running statistics with random conv weights make activations vanish or explode, which
changes int8 ranges and even kernel paths. So ``mobilenet_v2()`` runs a few training-mode forward
passes on random images with a cumulative BatchNorm average before switching to eval.
"""

from __future__ import annotations

# (expansion t, output channels c, repeats n, first stride s): MobileNetV2, table 2
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def build(num_classes: int = 1000):
    from torch import nn

    def conv_bn(inp: int, out: int, k: int, stride: int, groups: int = 1, act: bool = True) -> list:
        layers = [nn.Conv2d(inp, out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
        return layers + ([nn.ReLU6(inplace=True)] if act else [])

    class InvertedResidual(nn.Module):
        def __init__(self, inp: int, out: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = inp * t
            layers = [] if t == 1 else conv_bn(inp, hidden, 1, 1)
            layers += conv_bn(hidden, hidden, 3, stride, groups=hidden) + conv_bn(hidden, out, 1, 1, act=False)
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and inp == out

        def forward(self, x):
            y = self.block(x)
            return x + y if self.residual else y

    class MobileNetV2Like(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = conv_bn(3, 32, 3, 2)
            inp = 32
            for t, c, n, s in SETTINGS:
                for i in range(n):
                    layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            layers += conv_bn(inp, 1280, 1, 1)
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, image):
            return self.classifier(self.pool(self.features(image)).flatten(1))

    return MobileNetV2Like()


def mobilenet_v2(seed: int = 0):
    """Factory ``examples.torch_mobilenet.mobilenet:mobilenet_v2``: (model, example input)."""
    import torch

    torch.manual_seed(seed)
    model = build()
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration passes below
    model.train()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(8, 3, 224, 224, generator=gen) * 2 - 1)
    return model.eval(), (torch.zeros(1, 3, 224, 224),)


def random_images(n: int = 32, seed: int = 1):
    """Calibration/evaluation stand-in (size and latency only): images in [-1, 1], NCHW."""
    import numpy as np

    return {"image": np.random.default_rng(seed).uniform(-1, 1, size=(n, 3, 224, 224)).astype("float32")}
