"""One small class per model, each wrapping an onnxruntime.InferenceSession (rembg style)."""
from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort

from .contract import ADVERSARIAL_INDEX, INPUT_NAME, LOGITS_NAME, PURIFIED_NAME
from .errors import InvalidInputError, ModelError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def providers_for(device: str = "cpu", providers=None) -> list:
    """Explicit providers pass straight through; device='cuda' falls back to the CPU with one warning."""
    if providers is not None:
        return list(providers)
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        if CUDA in ort.get_available_providers():
            return [CUDA, CPU]
        warnings.warn("device='cuda' but this onnxruntime has no CUDAExecutionProvider; running on the CPU "
                      "(pip install 'digitguard[cuda]' for GPU support)", RuntimeWarning, stacklevel=3)
        return [CPU]
    raise InvalidInputError(f"device must be 'cpu' or 'cuda', got {device!r}")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Session:
    """A verified ONNX file; every onnxruntime failure surfaces as a ModelError naming the file."""

    output = LOGITS_NAME

    def __init__(self, path, providers):
        self.path = path
        try:  # onnxruntime raises its own, unrelated exception types for corrupt or foreign files
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as e:
            raise ModelError(f"{path}: onnxruntime cannot load this model ({e})") from e
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs or self.output not in outputs:
            raise ModelError(f"{path}: expected input {INPUT_NAME!r} and output {self.output!r}, "
                             f"the model has inputs {inputs} and outputs {outputs}")

    def run(self, images: np.ndarray) -> np.ndarray:
        """float32 [N, 1, 28, 28] in [0, 1] -> the model's output."""
        try:
            return self.session.run([self.output], {INPUT_NAME: images})[0]
        except Exception as e:
            raise ModelError(f"{self.path}: inference failed ({e})") from e


class Classifier(Session):
    def probs(self, images: np.ndarray) -> np.ndarray:
        """[N, 10] class probabilities."""
        return softmax(self.run(images))


class Detector(Session):
    def score(self, images: np.ndarray) -> np.ndarray:
        """[N] adversarial scores: softmax probability of the adversarial class."""
        return softmax(self.run(images))[:, ADVERSARIAL_INDEX]


class Purifier(Session):
    output = PURIFIED_NAME

    def purify(self, images: np.ndarray) -> np.ndarray:
        """[N, 1, 28, 28] denoised images, kept in [0, 1] for the classifier."""
        return np.clip(self.run(images), 0.0, 1.0)
