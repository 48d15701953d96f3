"""The one exception hierarchy of digitguard: catch DigitguardError to handle every expected failure.

Each message names the problem and the offending item (file, model, shape...), so it can be shown
to a user as is; no numpy, OpenCV or onnxruntime exception is let through in their place.
"""


class DigitguardError(Exception):
    """Base of every error digitguard raises on purpose."""


class InvalidInputError(DigitguardError, ValueError):
    """An image or argument digitguard cannot use: wrong shape or dtype, NaN/inf, empty, out of range, no digit."""


class ImageReadError(DigitguardError, OSError):
    """A file that cannot be read as an image: missing, empty, truncated, not an image, unsupported format."""


class ImageTooLargeError(InvalidInputError):
    """An image above MAX_PIXELS; refused before it can exhaust memory."""


class ModelError(DigitguardError):
    """A model file that is missing, altered (sha256 mismatch) or refused by onnxruntime."""


class ManifestError(DigitguardError):
    """An artifacts folder without a usable manifest.json."""


class SourceError(DigitguardError):
    """A camera, video file or stream URL that cannot be opened."""


class StreamTimeout(DigitguardError):
    """A video source that stopped delivering frames."""
