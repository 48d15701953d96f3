"""The one definition of what every digitguard model reads and writes.

Training, export and the runtime all import these names, so the preprocessing
contract and the ONNX I/O names live here and nowhere else.
"""
import numpy as np

IMAGE_SIZE = 28  # models see 28x28 single-channel images
DIGIT_BOX = 20  # the digit's longest side inside the 28x28 frame, as in MNIST
INPUT_NAME = "image"  # float32 [N, 1, 28, 28], values in [0, 1], white digit on black
LOGITS_NAME = "logits"  # classifiers: [N, 10]; detector: [N, 2] with index 1 = adversarial
PURIFIED_NAME = "purified"  # purifier: [N, 1, 28, 28] in [0, 1]
SCORE_NAME = "adversarial_score"  # fused graphs: [N] softmax probability of the adversarial class
PROBS_NAME = "probs"  # fused graphs: [N, 10] class probabilities
SCREEN_OUTPUTS = (SCORE_NAME, PROBS_NAME)  # screen.onnx: detector score and unflagged-path classifier
NUM_CLASSES = 10
ADVERSARIAL_INDEX = 1
EPS = 0.3  # the L∞ budget on [0, 1] pixels that training targets and every robustness figure are stated at

MODEL_NAMES = ("baseline", "detector", "purifier", "mitigation")
CLASSIFIERS = ("baseline", "mitigation")

CONTRACT = {
    "input": INPUT_NAME,
    "shape": ["N", 1, IMAGE_SIZE, IMAGE_SIZE],
    "dtype": "float32",
    "range": [0.0, 1.0],
    "polarity": "white digit on black background",
    "centring": f"digit scaled to fit {DIGIT_BOX}x{DIGIT_BOX}, centre of mass at the image centre (MNIST)",
}


def from_uint8(images: np.ndarray) -> np.ndarray:
    """MNIST-style uint8 pixels [N, 28, 28] -> model input float32 [N, 1, 28, 28] in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
