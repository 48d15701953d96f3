"""digitguard's runtime: read handwritten digits with ONNX models, detecting and purifying adversarial inputs.

    from digitguard.runtime import Pipeline
    results = Pipeline.load().predict("digit.jpg")

Needs only numpy, onnxruntime and OpenCV (never torch).
"""
from .errors import (DigitguardError, ImageReadError, ImageTooLargeError, InvalidInputError, ManifestError,
                     ModelError, SourceError, StreamTimeout)
from .imagefile import read_image
from .pipeline import Digit, Pipeline, Policy, Result
from .preprocess import to_mnist

__all__ = ["Pipeline", "Policy", "Result", "Digit", "to_mnist", "read_image", "DigitguardError", "InvalidInputError",
           "ImageReadError", "ImageTooLargeError", "ModelError", "ManifestError", "SourceError", "StreamTimeout"]
