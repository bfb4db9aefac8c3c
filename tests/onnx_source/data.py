"""Inputs for the RapidOCR models built from the shared photos, preprocessed as RapidOCR 1.4.4 does.

The classifier sees text-line crops: a wide strip of a photo, resized to height 48 keeping its aspect
ratio, padded on the right to width 192 (padding 0 after normalisation, as PaddleOCR's cls does),
pixels scaled to [-1, 1], channels first. Half the strips are turned 180 degrees (the two classes
the model tells apart). The detector sees whole photo regions resized to H x W, same scaling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGES = ("cat_720p.jpg", "grace_hopper.bmp", "parrot.jpg", "dog_segmentation.bmp")


def _photos(coral: Path) -> list:
    from PIL import Image

    return [Image.open(coral / "images" / name).convert("RGB") for name in IMAGES]


def _normalise(img) -> np.ndarray:
    px = np.asarray(img, dtype=np.float32) / 255.0
    return ((px - 0.5) / 0.5).transpose(2, 0, 1)  # CHW in [-1, 1]


def text_lines(coral: Path, n: int, seed: int = 0, height: int = 48, width: int = 192) -> np.ndarray:
    """``n`` samples [n, 3, 48, 192] of text-line-shaped crops."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = _photos(coral)
    out = np.zeros((n, 3, height, width), np.float32)
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = img.size
        ratio = rng.uniform(1.5, 6.0)  # text lines are wide
        ch = int(rng.integers(max(8, h // 12), max(9, h // 3)))
        cw = min(w, int(ch * ratio))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((x0, y0, x0 + cw, y0 + ch))
        if i % 2:
            crop = crop.rotate(180)
        rw = min(width, max(1, round(height * cw / ch)))
        out[i, :, :, :rw] = _normalise(crop.resize((rw, height), Image.BILINEAR))
    return out


WORDS = ("edgekit", "ONNX", "TFLite", "parrot", "Grace Hopper", "2026", "label: cat", "EXIT 70", "NHWC")


def photo_regions(coral: Path, n: int, size: int, seed: int = 0, text: bool = True) -> np.ndarray:
    """``n`` samples [n, 3, size, size]: square regions of the photos resized for the detector,
    with a few words printed on them (Pillow's bundled font): a photo without text gives a
    probability map of ~1e-7 everywhere, on which a cosine measures only rounding noise."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    photos = _photos(coral)
    out = np.zeros((n, 3, size, size), np.float32)
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = img.size
        side = int(rng.integers(min(w, h) // 2, min(w, h) + 1))
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        region = img.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BILINEAR)
        if text:
            draw = ImageDraw.Draw(region)
            for _ in range(3):
                font = ImageFont.load_default(size=int(rng.integers(size // 16, size // 9)))
                word = WORDS[int(rng.integers(len(WORDS)))]
                tx, ty = int(rng.integers(0, size // 2)), int(rng.integers(0, size - size // 8))
                box = draw.textbbox((tx, ty), word, font=font)
                draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(245, 245, 240))
                draw.text((tx, ty), word, fill=(10, 10, 10), font=font)
        out[i] = _normalise(region)
    return out
