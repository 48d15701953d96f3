"""Any photo or scan of one digit -> the MNIST convention the models were trained on (contract.py).

`to_mnist` is the only preprocessing in digitguard: the CLI, the API and the camera all call it.
It uses whole-image OpenCV/numpy operations only, so a digit crop takes well under a millisecond.
"""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from .contract import DIGIT_BOX, IMAGE_SIZE
from .errors import ImageReadError, ImageTooLargeError, InvalidInputError

MAX_PIXELS = 50_000_000  # a digit never needs more; bigger inputs are refused before they exhaust memory
MIN_CONTRAST = 0.08  # ink fainter than this above the paper counts as a blank image
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_image(path) -> np.ndarray:
    """A file as a uint8 grayscale array [H, W]; every failure is an ImageReadError naming the file."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode also handles non-ASCII paths
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from e
    if data.size == 0:
        raise ImageReadError(f"{path}: file is empty (0 bytes)")
    header = data[:24].tobytes()
    if header.startswith(_PNG_SIGNATURE) and len(header) == 24:  # size from the PNG header, before decoding
        _check_size(*struct.unpack(">II", header[16:24]), path)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    except cv2.error:  # some malformed files make the decoder throw instead of returning None
        image = None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    _check_size(image.shape[1], image.shape[0], path)
    return image


def _check_size(width: int, height: int, item) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"{item}: image is {width}x{height} pixels, more than the {MAX_PIXELS:,} allowed")


def to_mnist(image) -> np.ndarray:
    """One image of one digit -> float32 [28, 28] in [0, 1], white digit on black, MNIST-centred.

    Accepts [H, W], [H, W, 1], BGR [H, W, 3] or BGRA [H, W, 4] arrays of uint8, uint16 or float in [0, 1].
    A 28x28 image that is already white on black is returned unchanged (only scaled to float32 [0, 1]).
    Anything else is treated as a photo or scan: dark ink on light paper is detected and inverted,
    uneven lighting removed, the ink cropped, scaled so its longest side is DIGIT_BOX pixels and
    shifted so its centre of mass is at the centre, as MNIST was made. Crops should keep some
    paper around the digit: the paper is what the lighting is estimated from.
    Raises InvalidInputError (ImageTooLargeError) for unusable arrays and for images with no ink.
    """
    gray = _as_gray(image)
    u8 = (gray * 255 + 0.5).astype(np.uint8)
    otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark_ink = _border_median(u8) > otsu  # the paper (the border) is on the bright side of the ink/paper split
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE) and not dark_ink:
        return gray
    ink = 1.0 - gray if dark_ink else gray
    # Uneven lighting: an opening wider than any stroke keeps only the paper; subtracting it flattens the paper to 0.
    k = max(3, max(ink.shape) // 4)
    ink = cv2.subtract(ink, cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)))
    if min(ink.shape) > 2 * IMAGE_SIZE:  # strokes are then wider than 3 px: a median drops only noise specks
        ink = cv2.medianBlur(ink, 3)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise InvalidInputError(f"no digit found: the {gray.shape[1]}x{gray.shape[0]} image is blank or too faint")
    ink = ink / peak
    level, mask = cv2.threshold((ink * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    x, y, w, h = cv2.boundingRect(mask)
    digit = ink[y:y + h, x:x + w]
    digit[digit < level / 510] = 0  # below half the ink level: paper noise; above: the soft stroke edges MNIST has
    scale = DIGIT_BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = cv2.resize(digit, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    top, left = (IMAGE_SIZE - size[1]) // 2, (IMAGE_SIZE - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = digit
    m = cv2.moments(out)
    if m["m00"] > 0:  # whole-pixel shift, as MNIST: keeps strokes crisp
        shift = np.float32([[1, 0, round(IMAGE_SIZE / 2 - m["m10"] / m["m00"])],
                            [0, 1, round(IMAGE_SIZE / 2 - m["m01"] / m["m00"])]])
        out = cv2.warpAffine(out, shift, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_NEAREST, borderValue=0)
    return np.clip(out, 0.0, 1.0)


def to_mnist_stack(images) -> np.ndarray:
    """`to_mnist` on every image of a stack [N, H, W] (or [N, H, W, C]) -> float32 [N, 28, 28].

    28x28 images whose border is mostly black are white on black for `to_mnist` too (the paper would be
    the bright side of its ink/paper split), so it would return them unchanged: they are checked and
    passed through in one vectorised step, and only the others go through `to_mnist` one by one.
    """
    a = np.asarray(images)
    if a.ndim != 3 or a.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        return np.stack([to_mnist(image) for image in a])
    gray = _to_float(a)
    black = _border_median(gray) == 0
    out = np.array(gray, np.float32)  # a copy: the caller's array is never written to
    for i in np.flatnonzero(~black):
        out[i] = to_mnist(a[i])
    return out


def _border_median(images: np.ndarray):
    """Median of the outermost pixels of each [..., H, W] image (upper middle of the sorted border, as
    np.sort is ten times cheaper than np.median on a border this small)."""
    border = np.sort(np.concatenate([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]],
                                    axis=-1), axis=-1)
    return border[..., border.shape[-1] // 2]


def _as_gray(image) -> np.ndarray:
    """Validated float32 [H, W] in [0, 1]."""
    a = np.asarray(image)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
        raise InvalidInputError(f"an image must be [H, W] or [H, W, 1|3|4], got shape {a.shape}")
    if a.size == 0:
        raise InvalidInputError(f"empty image (shape {a.shape})")
    _check_size(a.shape[1], a.shape[0], f"array of shape {a.shape}")
    gray = _to_float(a)
    if gray.ndim == 3:
        channels = gray.shape[2]
        gray = gray[:, :, 0] if channels == 1 else cv2.cvtColor(
            gray, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
    return np.ascontiguousarray(gray)


def _to_float(a: np.ndarray) -> np.ndarray:
    """Pixels of any shape as float32 in [0, 1]: uint8/uint16 scaled, floats checked (a view when already float32)."""
    if a.dtype == np.uint8 or a.dtype == np.uint16:
        return a.astype(np.float32) / np.iinfo(a.dtype).max
    if a.dtype.kind != "f":
        raise InvalidInputError(f"unsupported dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
    low, high = a.min(), a.max()  # NaN propagates into both, inf into one: a single pass finds all three
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInputError(f"image contains NaN or infinite values (shape {a.shape})")
    if low < 0 or high > 1:
        raise InvalidInputError(f"float images must lie in [0, 1], got [{low:g}, {high:g}]; "
                                "divide 8-bit pixels by 255 or pass them as uint8")
    return a.astype(np.float32, copy=False)
