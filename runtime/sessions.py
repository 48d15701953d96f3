"""One small class per model, each wrapping an onnxruntime.InferenceSession (rembg style)."""
from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort

from .contract import ADVERSARIAL_INDEX, INPUT_NAME, LOGITS_NAME, PURIFIED_NAME, SCREEN_OUTPUTS
from .errors import InvalidInputError, ModelError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# One thread per call: these models are too small to split across cores, and onnxruntime's idle pool
# threads spin and wake late, which made one image's p99 latency ten times its p50 (see the README's Speed).
INTRA_OP_THREADS = 1


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


def session_options() -> ort.SessionOptions:
    """The options every digitguard session is made with (the benchmark's yardsticks too, for a fair race)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    return options


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def adversarial_score(detector_logits: np.ndarray) -> np.ndarray:
    """[N] softmax probability of the adversarial class: what the shipped threshold is compared with."""
    return softmax(detector_logits)[:, ADVERSARIAL_INDEX]


class Session:
    """A verified ONNX file; every onnxruntime failure surfaces as a ModelError naming the file."""

    outputs = (LOGITS_NAME,)

    def __init__(self, path, providers):
        self.path = path
        try:  # onnxruntime raises its own, unrelated exception types for corrupt or foreign files
            self.session = ort.InferenceSession(str(path), session_options(), providers=providers)
        except Exception as e:
            raise ModelError(f"{path}: onnxruntime cannot load this model ({e})") from e
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs or not set(self.outputs) <= set(outputs):
            raise ModelError(f"{path}: expected input {INPUT_NAME!r} and outputs {list(self.outputs)}, "
                             f"the model has inputs {inputs} and outputs {outputs}")

    def run(self, images: np.ndarray) -> list:
        """float32 [N, 1, 28, 28] in [0, 1] -> the model's outputs, in the order of `outputs`."""
        try:
            return self.session.run(self.outputs, {INPUT_NAME: images})
        except Exception as e:
            raise ModelError(f"{self.path}: inference failed ({e})") from e


class Classifier(Session):
    def probs(self, images: np.ndarray) -> np.ndarray:
        """[N, 10] class probabilities."""
        return softmax(self.run(images)[0])


class Detector(Session):
    def score(self, images: np.ndarray) -> np.ndarray:
        """[N] adversarial scores: softmax probability of the adversarial class."""
        return adversarial_score(self.run(images)[0])


class Screen(Session):
    """screen.onnx: the detector and the unflagged-path classifier fused, so every image costs one call."""

    outputs = SCREEN_OUTPUTS

    def score_and_probs(self, images: np.ndarray) -> list:
        """[[N] adversarial scores, [N, 10] class probabilities], as Detector.score and Classifier.probs give."""
        return self.run(images)


class Purifier(Session):
    outputs = (PURIFIED_NAME,)

    def purify(self, images: np.ndarray) -> np.ndarray:
        """[N, 1, 28, 28] denoised images, kept in [0, 1] for the classifier."""
        return np.clip(self.run(images)[0], 0.0, 1.0)
