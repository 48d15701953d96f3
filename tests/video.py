"""Synthetic camera videos of MNIST test digits, with the truth, for the camera tests.

Digits come from the MNIST test files beside the checkout when present, else from the committed sample
(tests/data/mnist_sample.npz: 200 test digits picked with seed 0), so the tests run without the data set.
"""
import gzip
from pathlib import Path

import numpy as np

from digitguard.runtime.bench import write_video

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"
SAMPLE = Path(__file__).with_name("data") / "mnist_sample.npz"


def _idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def mnist_test_digits():
    """(images uint8 [N, 28, 28] white on black, labels [N]) of the MNIST test set, or of the sample."""
    images, labels = MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        return _idx(images, 16).reshape(-1, 28, 28), _idx(labels, 8)
    sample = np.load(SAMPLE)
    return sample["images"], sample["labels"]


def make_video(path, frames=30, seed=0, hold=2):
    """Write `frames` 640x480 frames of 2-4 dark MNIST digits, a new scene every `hold` frames (many digits in a
    short video); return each frame's true labels, left to right."""
    return write_video(path, *mnist_test_digits(), frames=frames, seed=seed, hold=hold)
