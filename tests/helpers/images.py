"""Test images drawn without the MNIST files."""
import cv2
import numpy as np


def drawn_digit(text: str = "7") -> np.ndarray:
    """A 28x28 uint8 white-on-black digit drawn with OpenCV: MNIST-like without the MNIST files."""
    image = np.zeros((28, 28), np.uint8)
    cv2.putText(image, text, (7, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2, cv2.LINE_AA)
    return image
