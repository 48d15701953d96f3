"""Synthetic camera footage: dark digits on unevenly lit, noisy paper, with the truth of every frame.

`digitguard bench` times the camera path on it after a plain `pip install` (no MNIST needed: `font_glyphs`);
the tests film MNIST digits with it.
"""
import cv2
import numpy as np

from .contract import IMAGE_SIZE

FRAME_SIZE = (640, 480)


def write_video(path, glyphs, labels, frames, seed=0, fps=30, size=FRAME_SIZE, hold=10):
    """Write a video of 2-4 dark digits on unevenly lit, noisy paper; return each frame's labels, left to right.

    `glyphs` are MNIST-style uint8 [K, 28, 28] (white digit on black). A new scene every `hold` frames,
    like a hand moving sheets under a camera; the noise changes every frame, like a sensor's.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    paper = _paper(width, height)
    noises = [rng.normal(0, 6, (height, width)).astype(np.float32) for _ in range(5)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an mp4v video to {path}")
    truth = []
    try:
        for index in range(frames):
            if index % hold == 0:
                scene, scene_labels = _scene(rng, glyphs, labels, width, height)
                clean = paper * (1 - 0.85 * scene)  # ink darkens the paper it lies on
            gray = np.clip(clean + noises[index % len(noises)], 0, 255).astype(np.uint8)
            writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
            truth.append(scene_labels)
    finally:
        writer.release()
    return truth


def still(glyph, size=FRAME_SIZE, seed=0):
    """One BGR photo of one dark digit, about 80 % of the frame's height, on the footage's paper: a crop a
    user might send (what the preprocessing benchmark times). `glyph`: MNIST-style [28, 28], white on black."""
    width, height = size
    side = int(0.8 * height)
    ink = np.zeros((height, width), np.float32)
    y, x = (height - side) // 2, (width - side) // 2
    ink[y:y + side, x:x + side] = cv2.resize(np.asarray(glyph, np.float32), (side, side),
                                             interpolation=cv2.INTER_LINEAR) / max(1e-6, float(np.max(glyph)))
    noise = np.random.default_rng(seed).normal(0, 6, (height, width)).astype(np.float32)
    gray = np.clip(_paper(width, height) * (1 - 0.85 * ink) + noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def _paper(width, height):
    """Paper lit from one side: grey levels 150-250."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return 150 + 80 * xx / width + 20 * yy / height


def _scene(rng, glyphs, labels, width, height):
    """Ink coverage in [0, 1] of 2-4 digits scaled 3-4x, one per equal slot of the width, and their labels."""
    count = int(rng.integers(2, 5))
    slot = width // count
    ink = np.zeros((height, width), np.float32)
    picks = rng.integers(0, len(glyphs), count)
    for i, pick in enumerate(picks):
        side = int(IMAGE_SIZE * rng.uniform(3, 4))
        glyph = cv2.resize(glyphs[pick], (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        x = i * slot + (slot - side) // 2 + int(rng.integers(-(slot - side) // 4, (slot - side) // 4 + 1))
        y = int(rng.integers(20, height - side - 20))
        ink[y:y + side, x:x + side] = glyph
    return ink, [int(labels[p]) for p in picks]


def font_glyphs():
    """Digits 0-9 typeset MNIST-style (white on black, 28x28): camera load without the MNIST files."""
    glyphs = np.zeros((10, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for digit in range(10):
        cv2.putText(glyphs[digit], str(digit), (7, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    return glyphs, np.arange(10)
