"""Image files, encoded bytes and binary file objects -> uint8 grey arrays, hostile ones refused before decoding.

Only regular files are read (a FIFO would block), never more than MAX_FILE_BYTES, and the pixel count
is taken from the header and checked before anything is decoded: a few KB of compressed zeros can claim
gigabytes of pixels. So only the FORMATS whose headers are parsed here are decoded; others are refused.
"""
from __future__ import annotations

import os
import re
import struct
from typing import Callable, NamedTuple

import cv2
import numpy as np

from .errors import ImageReadError, ImageTooLargeError, InvalidInputError
from .files import read_regular_file

MAX_FILE_BYTES = 200_000_000  # a 600-dpi A4 scan is about 35 MB as PNG, 105 MB as uncompressed RGB
MAX_PIXELS = 50_000_000  # a digit never needs more; an A4 page at 600 dpi has 35 million


def read_image(source, name=None) -> np.ndarray:
    """A path, encoded image bytes (bytes, bytearray, memoryview) or binary file object -> uint8 grey [H, W].

    Transparent pixels are composited on white, so dark ink on a transparent background reads as ink on
    paper. Every failure is an ImageReadError (ImageTooLargeError for too many pixels) naming `name`,
    which defaults to the path or the file object's name.
    """
    data, name = _encoded(source, name)
    if not data:
        raise ImageReadError(f"{name}: file is empty (0 bytes)")
    kind, flags = _checked_format(data, name)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # some malformed files make the decoder throw instead of returning None
        image = None
    if image is None:
        raise ImageReadError(f"{name}: not a readable {kind} image (corrupt or truncated)")
    return _grey(image, name)


def check_pixels(width: int, height: int, item) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"{item}: image is {width}x{height} pixels, more than the {MAX_PIXELS:,} allowed")


def _encoded(source, name) -> tuple:
    """(the encoded bytes, at most MAX_FILE_BYTES, uncopied; the name errors give) of a path, bytes or file object."""
    if isinstance(source, (str, os.PathLike)):
        return read_regular_file(source, MAX_FILE_BYTES, ImageReadError), name or os.fsdecode(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or type(source).__name__
        try:
            view = memoryview(source).cast("B")
        except TypeError as e:  # a memoryview that is not contiguous
            raise ImageReadError(f"{name}: not a contiguous buffer ({e})") from None
        data = view[:MAX_FILE_BYTES + 1]
    elif callable(getattr(source, "read", None)):
        name = name or str(getattr(source, "name", type(source).__name__))
        try:
            data = source.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError) as e:  # ValueError: a closed file
            raise ImageReadError(f"{name}: cannot read ({e})") from None
        if not isinstance(data, (bytes, bytearray)):
            raise ImageReadError(f"{name}: not a binary file object (read() gave {type(data).__name__})")
    else:
        raise InvalidInputError(f"{name or 'input'}: expected a path, image bytes or a binary file object, "
                                f"got {type(source).__name__}")
    if len(data) > MAX_FILE_BYTES:
        raise ImageReadError(f"{name}: more than the {MAX_FILE_BYTES / 1e6:,.0f} MB an image file may have: not read")
    return data, name


def _png(data: bytes) -> tuple:
    """IHDR's size, once every chunk up to IEND fits in the file: OpenCV allocates a chunk's declared
    length before reading it, so a 60-byte PNG whose IDAT claims 3.7 GB took 3.7 GB."""
    if data[12:16] != b"IHDR":
        raise ValueError("the first chunk is not IHDR")
    position = 8  # after the signature
    for _ in range(1_000_000):  # a 200 MB PNG written in libpng's 8 KB chunks has 25,000
        length, kind = struct.unpack_from(">I4s", data, position)
        position += 12 + length  # length, type, data, CRC
        if position > len(data):
            raise ValueError(f"chunk {kind!r} of {length:,} bytes runs past the end of the file")
        if kind == b"IEND":
            return struct.unpack_from(">II", data, 16)
    raise ValueError("more than a million chunks")


_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15; C4, C8 and CC are other markers
_JPEG_FILL = re.compile(rb"\xff+")  # a marker is 0xFF (any number of them) then its code


def _jpeg(data: bytes) -> tuple:
    position = 2  # after the start-of-image marker
    for _ in range(1000):  # real files have a few dozen segments before the frame header
        fill = _JPEG_FILL.match(data, position)
        if fill is None:
            raise ValueError("no marker where one must be")
        marker = data[fill.end()]
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack_from(">HH", data, fill.end() + 4)
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            raise ValueError("no frame header before the image data")
        position = fill.end() + 1 + max(2, struct.unpack_from(">H", data, fill.end() + 1)[0])
    raise ValueError("no frame header in the first 1,000 segments")


def _bmp(data: bytes) -> tuple:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return width, abs(height)  # a negative height means rows top-down


_TIFF_SIZES = {256: "width", 257: "height", 322: "tile width", 323: "tile height"}


def _tiff(data: bytes) -> tuple:
    """The first IFD's size, or its tiles' where larger: the decoder allocates a whole tile at a time."""
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    sizes = {}
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from(order + "H", data, ifd)[0], 12):
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        if tag in _TIFF_SIZES:
            if kind not in (3, 4):  # SHORT or LONG
                raise ValueError(f"TIFF {_TIFF_SIZES[tag]} of type {kind}")
            sizes[_TIFF_SIZES[tag]] = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, entry + 8)[0]
    if "width" not in sizes or "height" not in sizes:
        raise ValueError("no image width or height in the first IFD")
    return (max(sizes["width"], sizes.get("tile width", 0)), max(sizes["height"], sizes.get("tile height", 0)))


def _webp(data: bytes) -> tuple:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("no VP8 start code")
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one after the signature byte
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended (alpha, animation): 24-bit canvas sizes minus one
        return (struct.unpack_from("<I", data, 24)[0] & 0xFFFFFF) + 1, (struct.unpack_from("<I", data, 26)[0] >> 8) + 1
    raise ValueError(f"unknown WebP chunk {chunk!r}")


def _gif(data: bytes) -> tuple:
    return struct.unpack_from("<HH", data, 6)  # the logical screen: OpenCV refuses frames outside it


_PNM_GAP = rb"(?:\s|#[^\r\n]*[\r\n])+"  # whitespace and comments


def _pnm(data: bytes) -> tuple:
    match = re.match(rb"P[1-6]" + _PNM_GAP + rb"(\d{1,9})" + _PNM_GAP + rb"(\d{1,9})", data)
    if match is None:
        raise ValueError("no width and height")
    return int(match[1]), int(match[2])


class Format(NamedTuple):
    signature: bytes  # a regular expression the file's first bytes match
    header: Callable  # the header parser: encoded bytes -> (width, height)
    flags: int  # cv2.imdecode flags
    suffixes: tuple  # the file name suffixes folders and patterns pick for it


# JPEG and PNM have no alpha: read straight to grey, which also applies JPEG's EXIF rotation;
# the others keep their alpha channel to be composited on white.
FORMATS = {
    "PNG": Format(rb"\x89PNG\r\n\x1a\n", _png, cv2.IMREAD_UNCHANGED, (".png",)),
    "JPEG": Format(rb"\xff\xd8\xff", _jpeg, cv2.IMREAD_GRAYSCALE, (".jpg", ".jpeg")),
    "BMP": Format(rb"BM", _bmp, cv2.IMREAD_UNCHANGED, (".bmp",)),
    "TIFF": Format(rb"II\*\x00|MM\x00\*", _tiff, cv2.IMREAD_UNCHANGED, (".tif", ".tiff")),
    "WebP": Format(rb"RIFF....WEBP", _webp, cv2.IMREAD_UNCHANGED, (".webp",)),
    "GIF": Format(rb"GIF8[79]a", _gif, cv2.IMREAD_UNCHANGED, (".gif",)),
    "PNM": Format(rb"P[1-6]", _pnm, cv2.IMREAD_GRAYSCALE, (".pgm", ".ppm", ".pbm", ".pnm")),
}
IMAGE_SUFFIXES = frozenset(suffix for f in FORMATS.values() for suffix in f.suffixes)  # what folders pick


def _checked_format(data: bytes, name) -> tuple:
    """(format name, imdecode flags) once the header's pixel count is within MAX_PIXELS."""
    for kind, (signature, parse, flags, _) in FORMATS.items():
        if re.match(signature, data, re.DOTALL):
            try:
                width, height = parse(data)
            except (ValueError, IndexError, struct.error) as e:
                raise ImageReadError(f"{name}: malformed or truncated {kind} header ({e})") from None
            if width <= 0 or height <= 0:
                raise ImageReadError(f"{name}: {kind} header gives a size of {width}x{height}")
            check_pixels(width, height, name)
            return kind, flags
    raise ImageReadError(f"{name}: not a readable image: unsupported format (digitguard reads {', '.join(FORMATS)})")


def _grey(image: np.ndarray, name) -> np.ndarray:
    """A decoded image (8 or 16 bits; grey, BGR or BGRA) as uint8 grey, transparent pixels white."""
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=1 / 257)
    elif image.dtype != np.uint8:
        raise ImageReadError(f"{name}: {image.dtype} pixels are not supported; save the image with 8 or 16 bits")
    if image.ndim == 2:
        return image
    channels = image.shape[2]
    if channels == 4:  # over white: grey * alpha + 255 * (1 - alpha), in 8-bit saturating arithmetic
        alpha = image[:, :, 3]
        return cv2.add(cv2.multiply(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), alpha, scale=1 / 255),
                       cv2.bitwise_not(alpha))
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    raise ImageReadError(f"{name}: {channels} colour channels are not supported")
