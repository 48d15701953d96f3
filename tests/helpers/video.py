"""Synthetic camera videos of MNIST test digits, with the truth, for the camera tests.

The digits are the committed sample (tests/data/mnist_sample.npz: 200 MNIST test digits picked with seed 0),
so the video, and what the camera tests expect of it, is the same with or without the MNIST files.
"""
from digitguard.runtime.footage import write_video

from .mnist import mnist_sample


def make_video(path, frames=30, seed=0, hold=2):
    """Write `frames` 640x480 frames of 2-4 dark MNIST digits, a new scene every `hold` frames (many digits in a
    short video); return each frame's true labels, left to right."""
    return write_video(path, *mnist_sample(), frames=frames, seed=seed, hold=hold)
