"""Test images: real MNIST test digits, and photo-like renderings of them (dark ink, uneven light, noise)."""
import cv2
import numpy as np

from .mnist import mnist_test_set


def mnist_test(n: int):
    """The first n MNIST test digits as uint8 [n, 28, 28] and their labels; skips the test when absent."""
    images, labels = mnist_test_set()
    return images[:n], labels[:n]


def drawn_digit(text: str = "7") -> np.ndarray:
    """A 28x28 uint8 white-on-black digit drawn with OpenCV: MNIST-like without the MNIST files."""
    image = np.zeros((28, 28), np.uint8)
    cv2.putText(image, text, (7, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2, cv2.LINE_AA)
    return image


def photo_like(digit: np.ndarray, rng: np.random.Generator, scale: int = 5, margin: int = 30) -> np.ndarray:
    """A 28x28 white-on-black digit as a BGR photo: dark ink on paper, scaled up, lit from one side, noisy."""
    ink = cv2.resize(digit.astype(np.float32) / 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    ink = np.pad(np.clip(ink, 0, 1), margin)
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    light = 0.55 + 0.35 * (np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2  # paper from 0.55 to 0.9
    gray = light * (1 - 0.8 * ink) + rng.normal(0, 0.03, ink.shape)
    tint = np.array([0.9, 1.0, 1.05])  # warm light: the colour channels differ a little
    return (np.clip(gray[..., None] * tint, 0, 1) * 255).astype(np.uint8)
