"""A small PyTorch CNN trained on scikit-learn's bundled 8x8 handwritten digits (no download).

``prepare(workdir)`` writes what a build needs: ``digits_cnn.pt2`` (the trained model as a
torch.export archive, trained in a few seconds), ``train.npz`` (calibration samples with labels),
``test.npz`` (held-out samples with labels, never seen in training or calibration) and the build
spec ``edgekit.toml`` (every PyTorch target). ``digits_cnn()`` is the same model as a factory.
Layout is NCHW ([N, 1, 8, 8]), PyTorch's own.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): [N, 1, 8, 8] float32 scaled to [0, 1], 25% held out."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 4
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def build_model():
    """Conv-conv-pool-conv-dense, the same shape as the Keras digits example; all ops XNNPACK takes."""
    import torch
    from torch import nn

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 32, 3, padding=1),
                nn.ReLU(),
            )
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.head(self.features(pixels)), dim=1)

    return DigitsCNN()


def train_model(x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 15):
    """~97% on held-out digits in seconds; one thread (tiny batches gain nothing from more and
    lose a lot on a busy machine), deterministic for a seed."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(x, y, seed, epochs)
    finally:
        torch.set_num_threads(threads)


def _train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int):
    import torch

    torch.manual_seed(seed)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            logits = model.head(model.features(xt[idx]))
            loss = torch.nn.functional.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def digits_cnn():
    """Factory ``examples.torch_digits.digits:digits_cnn``: (trained model, example input)."""
    import torch

    x_tr, y_tr, _, _ = digits_split()
    return train_model(x_tr, y_tr), (torch.zeros(1, 1, 8, 8),)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean() * 100.0)


def prepare(workdir: str, seed: int = 0) -> dict:
    """Train (unless already there) and write the model, data and spec into ``workdir``."""
    import torch

    os.makedirs(workdir, exist_ok=True)
    model_path = os.path.join(workdir, "digits_cnn.pt2")
    x_tr, y_tr, x_te, y_te = digits_split(seed)
    float_acc = None
    if not os.path.exists(model_path):
        model = train_model(x_tr, y_tr, seed)
        float_acc = accuracy(model, x_te, y_te)
        ep = torch.export.export(model, (torch.zeros(1, 1, 8, 8),))
        tmp = model_path + ".tmp.pt2"
        torch.export.save(ep, tmp)
        os.replace(tmp, model_path)
    np.savez(os.path.join(workdir, "train.npz"), pixels=x_tr, y=y_tr)
    np.savez(os.path.join(workdir, "test.npz"), pixels=x_te, y=y_te)
    shutil.copyfile(os.path.join(HERE, "edgekit.toml"), os.path.join(workdir, "edgekit.toml"))
    return {
        "model": model_path,
        "spec": os.path.join(workdir, "edgekit.toml"),
        "test_samples": len(x_te),
        "float_accuracy": float_acc,
    }
