"""read_image: every format it allows, paths/bytes/file objects alike, and hostile files refused before they cost."""
import base64
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitguard.runtime import ImageReadError, ImageTooLargeError, Pipeline, read_image

from tests.helpers import REPO, SHIPPED

SAMPLES = SHIPPED / "samples" / "demo.npz"
MB = 1 << 20
# A 9.8 KB lossless WebP of 16000x16000 black pixels (zlib + base64), made by cv2.imencode at quality 101
WEBP_BOMB = zlib.decompress(base64.b64decode(
    "eNrt2r0KgmAUxnGdpEmlG2iKttaagjBBaLCGag28D28hbyAvxUsIWhscm6LBIcSPk2KTvGM1/ZcfLxyew/PuZ+u5bjDWtP1q6e/8"
    "2frQvKdhHZuGZVfm+TSK5Pawo7mhe1eRoyPDiRXKxgnK+0LyS1gXz0T6ZLG04+qVhn3aSDNWxT4bVbFuY6KIdSWyVBHrSuSKfkVX"
    "olT0q/75LQAAAAAAAAAAAAAAAAAAAAAAgJ/w5SMtGehvaGQVPg=="))


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.load()  # the shipped models


@pytest.fixture(scope="module")
def seven():
    """A real MNIST 7 (from the demo samples) as dark ink on white paper, 112x112 uint8."""
    with np.load(SAMPLES) as data:
        assert data["labels"][0] == 7
        digit = (data["clean"][0, 0] * 255).astype(np.uint8)
    return 255 - cv2.resize(digit, (112, 112), interpolation=cv2.INTER_LINEAR)


def encoded(ext: str, image: np.ndarray, *params) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok, ext
    return buf.tobytes()


def tiff(width: int, height: int, pixels: bytes, order: str = "<") -> bytes:
    """An uncompressed 8-bit grey TIFF, little- ("<", II) or big-endian (">", MM), one strip."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, len(pixels))]
    ifd_size = 2 + 12 * len(tags) + 4
    tags[5] = (273, 4, 8 + ifd_size)  # the strip follows the IFD
    entries = b"".join(struct.pack(order + "HHI", tag, kind, 1) +
                       (struct.pack(order + "HH", value, 0) if kind == 3 else struct.pack(order + "I", value))
                       for tag, kind, value in tags)
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return magic + struct.pack(order + "I", 8) + struct.pack(order + "H", len(tags)) + entries + b"\0" * 4 + pixels


def png_bomb(width: int, height: int) -> bytes:
    """A grey PNG of width x height black pixels: a few hundred KB of compressed zeros."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    packer, row = zlib.compressobj(9), b"\0" * (width + 1)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def claiming(data: bytes, offset: int, fmt: str, *size) -> bytes:
    """`data` with the size fields at `offset` overwritten: a small file whose header claims a huge image."""
    return data[:offset] + struct.pack(fmt, *size) + data[offset + struct.calcsize(fmt):]


def jpeg_claiming(seven, width: int, height: int) -> bytes:
    data = encoded(".jpg", seven)
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    return claiming(data, sof + 5, ">HH", height, width)


@pytest.mark.parametrize("ext, params", [(".png", ()), (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 100)), (".bmp", ()),
                                         (".tiff", ()), (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)), (".gif", ()),
                                         (".pgm", ()), (".pbm", ())])
def test_every_allowed_format_reads_as_the_same_grey_image(seven, ext, params):
    image = cv2.cvtColor(seven, cv2.COLOR_GRAY2BGR) if ext == ".gif" else seven  # OpenCV writes GIF from colour
    if ext == ".pbm":
        image = np.where(seven < 128, 0, 255).astype(np.uint8)
    expected = image[..., 0] if image.ndim == 3 else image
    grey = read_image(encoded(ext, image, *params))
    assert grey.dtype == np.uint8 and grey.shape == seven.shape
    assert np.abs(grey.astype(int) - expected).mean() < 6, ext


@pytest.mark.parametrize("order", ["<", ">"])
def test_tiff_of_either_byte_order_reads(order):
    pixels = np.arange(12 * 10, dtype=np.uint8).reshape(10, 12)
    assert np.array_equal(read_image(tiff(12, 10, pixels.tobytes(), order)), pixels)


def test_paths_bytes_and_file_objects_read_alike(seven, tmp_path):
    path = tmp_path / "seven.png"
    path.write_bytes(encoded(".png", seven))
    data = path.read_bytes()
    with open(path, "rb") as f:
        from_file = read_image(f)
    for source in (path, str(path), data, bytearray(data), memoryview(data), io.BytesIO(data)):
        assert np.array_equal(read_image(source), from_file)
    with pytest.raises(ImageReadError, match="not a binary file object"):
        read_image(io.StringIO("text"))


def test_bytes_and_file_objects_go_through_the_same_checks(seven):
    bomb = jpeg_claiming(seven, 60000, 60000)
    for source in (bomb, io.BytesIO(bomb), memoryview(bomb)):
        with pytest.raises(ImageTooLargeError, match="60000x60000"):
            read_image(source)
    with pytest.raises(ImageReadError, match="upload.bin: not a readable image: unsupported format"):
        read_image(b"#!/bin/sh\necho not an image\n", "upload.bin")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(io.BytesIO(b""))


def test_predict_takes_bytes_and_file_objects_and_names_them(pipeline, seven, tmp_path):
    data = encoded(".png", seven)
    path = tmp_path / "seven.png"
    path.write_bytes(data)
    with open(path, "rb") as f:
        results = pipeline.predict([data, io.BytesIO(data), f, b"GIF89a", memoryview(data)])
    assert [r.source for r in results] == ["item[0]", "item[1]", str(path), "item[3]", "item[4]"]
    assert [r.label for r in results] == [7, 7, 7, None, 7]
    assert isinstance(results[3].error, ImageReadError) and "item[3]" in str(results[3].error)
    assert pipeline.predict(data)[0].label == 7


def test_dark_ink_on_a_transparent_png_reads_as_the_digit(pipeline, seven, tmp_path):
    """Transparent pixels are black underneath: read without the alpha, the image is all black."""
    transparent = np.zeros((*seven.shape, 4), np.uint8)
    transparent[:, :, 3] = 255 - seven  # the ink is opaque black, the paper fully transparent
    path = tmp_path / "transparent.png"
    path.write_bytes(encoded(".png", transparent))
    grey = read_image(path)
    assert grey[0, 0] == 255 and np.abs(grey.astype(int) - seven).max() <= 1
    assert pipeline.predict(path)[0].label == 7


@pytest.mark.parametrize("ext", [".jp2", ".hdr", ".sr"])
def test_formats_whose_header_is_not_checked_are_refused(seven, tmp_path, ext):
    """OpenCV decodes these, but their pixel count is not checked before decoding: refused, typed."""
    image = seven.astype(np.float32) / 255 if ext == ".hdr" else seven
    path = tmp_path / f"seven{ext}"
    path.write_bytes(encoded(ext, cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)))
    with pytest.raises(ImageReadError, match=f"seven{ext}: not a readable image: unsupported format"):
        read_image(path)


@pytest.mark.parametrize("data, words", [
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0", "malformed or truncated PNG header"),
    (b"\xff\xd8\xff\xda\0\x08" + b"\0" * 20, "JPEG header .*no frame header"),
    (b"P5\n# no size\n", "PNM header"),
    (b"RIFF\0\0\0\0WEBPVP8Z" + b"\0" * 20, "WebP header"),
    (b"II*\0\x08\0\0\0\x01\0" + b"\0" * 12, "TIFF header .*no image width"),
    (b"GIF89a\0\0\x10\0" + b"\0" * 10, "GIF header gives a size of 0x16"),
], ids=["png", "jpeg", "pnm", "webp", "tiff", "gif"])
def test_malformed_headers_are_image_read_errors(data, words):
    with pytest.raises(ImageReadError, match=words):
        read_image(data)


def read_in_child(path: Path, address_space_limit: int = 2 << 30) -> dict:
    """read_image(path) in a fresh process: its outcome and how far reading raised the peak RSS (MB).

    The address-space limit keeps a decoder that allocates for a bomb from taking the machine's memory;
    the timeout only guards against hanging forever.
    """
    script = f"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({address_space_limit}, {address_space_limit}))
from digitguard.runtime import read_image
from digitguard.runtime.bench import rss_mb
before = rss_mb("VmHWM")
try:
    read_image(sys.argv[1])
    outcome = "read"
except Exception as e:
    outcome = type(e).__name__ + ": " + str(e)
growth = rss_mb("VmHWM") - before
print(json.dumps({{"outcome": outcome, "growth_mb": growth}}))
"""
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def bombs(seven) -> dict:
    """Small files whose headers claim far more than MAX_PIXELS, one per format."""
    gif = encoded(".gif", cv2.cvtColor(seven, cv2.COLOR_GRAY2BGR))
    bmp = encoded(".bmp", seven)
    return {
        "bomb.webp": WEBP_BOMB,  # decodes for real: 16000 x 16000
        "bomb.png": png_bomb(10000, 10000),  # decodes for real: 10000 x 10000
        "bomb.jpg": jpeg_claiming(seven, 60000, 60000),
        "bomb_le.tiff": tiff(60000, 60000, b"\0" * 1000, "<"),
        "bomb_be.tiff": tiff(60000, 60000, b"\0" * 1000, ">"),
        "bomb.gif": claiming(gif, 6, "<HH", 65535, 65535),
        "bomb.bmp": claiming(bmp, 18, "<ii", 30000, 30000),
        "bomb.pgm": b"P5\n# a comment\n60000 60000\n255\n" + b"\0" * 1000,
    }


def test_image_bombs_are_refused_from_their_header_in_bounded_memory(seven, tmp_path):
    for name, data in bombs(seven).items():
        path = tmp_path / name
        path.write_bytes(data)
        assert len(data) < 1 * MB, name
        result = read_in_child(path)
        assert result["outcome"].startswith(f"ImageTooLargeError: {path}: image is "), (name, result)
        assert result["growth_mb"] < 50, (name, result)


def test_a_png_chunk_claiming_gigabytes_is_refused_before_decoding(seven, tmp_path):
    """OpenCV allocates the length a PNG chunk declares: a 60-byte file took 3.7 GB (found by test_fuzz)."""
    data = encoded(".png", seven)
    path = tmp_path / "chunk.png"
    path.write_bytes(claiming(data, data.index(b"IDAT") - 4, ">I", 0xE0000000))
    result = read_in_child(path)
    assert result["outcome"].startswith(f"ImageReadError: {path}: malformed or truncated PNG header "
                                        "(chunk b'IDAT' of 3,758,096,384 bytes runs past the end"), result
    assert result["growth_mb"] < 50, result


def test_huge_sparse_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:  # 3 GB that take no disk space (a sparse file)
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(3 * 10 ** 9)
    result = read_in_child(path)
    assert result["outcome"].startswith(f"ImageReadError: {path}: file is 3,000.0 MB"), result
    assert result["growth_mb"] < 50, result


def test_fifo_is_refused_instead_of_blocking(tmp_path):
    """A FIFO with no writer blocks whoever opens it for reading; the timeout only guards the test itself."""
    fifo = tmp_path / "scan.png"
    os.mkfifo(fifo)
    result = read_in_child(fifo)
    assert result["outcome"] == (f"ImageReadError: {fifo}: cannot read a FIFO (named pipe): "
                                 "only regular files are read")


@pytest.mark.parametrize("special", ["directory", "/dev/null"])
def test_other_special_files_are_refused(tmp_path, special):
    path = tmp_path if special == "directory" else Path(special)
    with pytest.raises(ImageReadError, match="only regular files are read"):
        read_image(path)


def test_a_fifo_among_files_fails_alone(pipeline, seven, tmp_path):
    png = tmp_path / "seven.png"
    png.write_bytes(encoded(".png", seven))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    script = f"""
from digitguard.runtime import Pipeline
for r in Pipeline.load().predict([{str(png)!r}, {str(fifo)!r}, {str(png)!r}]):
    print(r.label, type(r.error).__name__)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.split("\n")[:3] == ["7 NoneType", "None ImageReadError", "7 NoneType"], run.stderr[-2000:]
