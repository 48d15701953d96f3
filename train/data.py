"""MNIST, read offline from the four original files (or downloaded by torchvision when allowed)."""
import gzip
import os
import socket
from pathlib import Path

import numpy as np
import torch

from digitguard.runtime.contract import IMAGE_SIZE, from_uint8

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
VALIDATION_SIZE = 5000  # held out of the 60k training images for thresholds and model selection


class DataError(RuntimeError):
    """The MNIST files are missing or unreadable."""


def default_data_dir() -> Path:
    """--data-dir falls back to $DIGITGUARD_DATA, then to the shared copy beside this checkout, then ./data."""
    if os.environ.get("DIGITGUARD_DATA"):
        return Path(os.environ["DIGITGUARD_DATA"])
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else Path("data")


def _find(data_dir: Path, stem: str):
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def _read_idx(path: Path, magic: int, shape_tail: tuple) -> np.ndarray:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
        header = 4 * (1 + 1 + len(shape_tail))
        got_magic, count, *dims = np.frombuffer(raw[:header], dtype=">i4")
        if got_magic != magic or tuple(dims) != shape_tail:
            raise ValueError(f"header says magic={got_magic} dims={dims}")
        data = np.frombuffer(raw, dtype=np.uint8, offset=header)
        return data.reshape(count, *shape_tail)
    except (OSError, EOFError, ValueError, gzip.BadGzipFile) as e:
        raise DataError(f"{path} is not a valid MNIST idx file ({e}); replace it with the original download") from e


MIRROR = ("ossci-datasets.s3.amazonaws.com", 443)  # torchvision's first MNIST mirror


def _download(data_dir: Path) -> None:
    try:
        # torchvision retries each file for minutes when offline; one short probe fails fast instead
        socket.create_connection(MIRROR, timeout=5).close()
        import torchvision

        for train in (True, False):
            torchvision.datasets.MNIST(str(data_dir), train=train, download=True)
    except Exception as e:  # any network or mirror failure ends in the same advice
        names = ", ".join(f + ".gz" for f in FILES.values())
        raise DataError(
            f"MNIST not found in {data_dir} and could not be downloaded ({e.__class__.__name__}: {e}).\n"
            f"Put the four original files ({names}) in that folder, or point --data-dir / "
            f"DIGITGUARD_DATA at a folder that holds them."
        ) from e


def load_arrays(data_dir=None, download=True) -> dict:
    """The four MNIST arrays as uint8 images [N, 28, 28] and int64 labels [N]."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    paths = {key: _find(data_dir, stem) for key, stem in FILES.items()}
    if any(p is None for p in paths.values()):
        if not download:
            missing = ", ".join(FILES[k] + ".gz" for k, p in paths.items() if p is None)
            raise DataError(f"MNIST files missing in {data_dir}: {missing}. Put the four original files there.")
        _download(data_dir)
        paths = {key: _find(data_dir, stem) for key, stem in FILES.items()}
    arrays = {}
    for key, path in paths.items():
        if key.endswith("images"):
            arrays[key] = _read_idx(path, 2051, (IMAGE_SIZE, IMAGE_SIZE))
        else:
            arrays[key] = _read_idx(path, 2049, ()).astype(np.int64)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DataError(f"MNIST {split} images and labels differ in count; the files do not belong together")
    return arrays


def load_splits(data_dir=None, train_size=None, test_size=None, seed=0) -> dict:
    """Tensors for 'train', 'val' and 'test', each (images [N,1,28,28] float in [0,1], labels [N]).

    The validation split is a fixed, seeded slice of the training set, so thresholds and
    model selection never look at the test set.
    """
    a = load_arrays(data_dir)
    order = np.random.default_rng(seed).permutation(len(a["train_images"]))
    val_idx, train_idx = order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]
    if train_size:
        train_idx = train_idx[:train_size]
        val_idx = val_idx[: max(500, train_size // 10)]

    def pack(images, labels):
        return torch.from_numpy(from_uint8(images)), torch.from_numpy(labels)

    test_n = test_size or len(a["test_images"])
    return {
        "train": pack(a["train_images"][train_idx], a["train_labels"][train_idx]),
        "val": pack(a["train_images"][val_idx], a["train_labels"][val_idx]),
        "test": pack(a["test_images"][:test_n], a["test_labels"][:test_n]),
    }
