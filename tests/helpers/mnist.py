"""MNIST for the tests, read with numpy alone (no torch), from $DIGITGUARD_DATA.

Without the files a test that needs them is skipped for one reason that says where they go; with
DIGITGUARD_REQUIRE_DATA=1 (as in CI, see .ci/run) it fails instead, so missing data cannot pass unnoticed.
"""
import functools
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from . import REPO

SAMPLE = REPO / "tests" / "data" / "mnist_sample.npz"  # 200 MNIST test digits picked with seed 0: no data set needed
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def data_folder() -> Path:
    """$DIGITGUARD_DATA, else the shared copy beside the checkout (where training looks too)."""
    return Path(os.environ.get("DIGITGUARD_DATA") or REPO.parent / "shared" / "data" / "mnist")


def require_mnist(files=FILES) -> Path:
    """The MNIST folder when it holds `files`; otherwise skip the calling test (fail where data is required)."""
    folder = data_folder()
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        reason = (f"MNIST not found: {folder} lacks {', '.join(missing)}; "
                  "set DIGITGUARD_DATA to the folder of the four MNIST .gz files")
        if os.environ.get("DIGITGUARD_REQUIRE_DATA") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return folder


def _idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


@functools.lru_cache(maxsize=1)
def _test_set(folder: Path):
    images, labels = FILES[2:]
    return _idx(folder / images, 16).reshape(-1, 28, 28), _idx(folder / labels, 8).astype(int)


def mnist_test_set():
    """The 10,000 MNIST test digits as uint8 [N, 28, 28] (white on black) and their labels [N]."""
    return _test_set(require_mnist(FILES[2:]))


@functools.lru_cache(maxsize=1)
def mnist_sample():
    """The committed sample: 200 MNIST test digits uint8 [200, 28, 28] and their labels, with or without the data set."""
    with np.load(SAMPLE) as data:
        return data["images"], data["labels"].astype(int)
