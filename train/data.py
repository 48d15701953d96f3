"""MNIST, read offline from the four original files (or downloaded by torchvision when allowed)."""
import gzip
import os
import socket
from pathlib import Path

import numpy as np
import torch

from digitguard.runtime.contract import IMAGE_SIZE, from_uint8

from .photos import photo_digits

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


def load_splits(data_dir=None, train_size=None, test_size=None, seed=0, photo_train=0, photo_val=0, photo_test=0,
                cache_dir=None) -> dict:
    """Tensors for 'train', 'val' and 'test', each (images [N,1,28,28] float in [0,1], labels [N]).

    The validation split is a fixed, seeded slice of the training set, so thresholds and
    model selection never look at the test set.

    The photo path (photos.py) joins in when asked: `photo_train` photos of training-split digits join
    'train' and `photo_val` photos of validation digits join 'val' (training looks; digits reused in
    turn when more photos than digits are asked for), and 'test_photo' holds photos of the first
    `photo_test` test digits in looks no training image has. A mixed split is shuffled (seeded), so any
    prefix of it is a proportional mix; data["is_photo"][split] marks its photo-path images and
    data["photo_refused"][split] counts the renders to_mnist refused. `cache_dir` keeps rendered sets.
    """
    a = load_arrays(data_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(a["train_images"]))
    val_idx, train_idx = order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]
    if train_size:
        train_idx = train_idx[:train_size]
        val_idx = val_idx[: max(500, train_size // 10)]
    test_n = test_size or len(a["test_images"])
    test = torch.from_numpy(from_uint8(a["test_images"][:test_n])), torch.from_numpy(a["test_labels"][:test_n])
    data = {"test": test, "is_photo": {},
            "photo_refused": {"train": 0, "val": 0, "test": 0}}
    for split, idx, count in (("train", train_idx, photo_train), ("val", val_idx, photo_val)):
        images, labels, is_photo = from_uint8(a["train_images"][idx]), a["train_labels"][idx], np.zeros(len(idx), bool)
        if count:
            chosen = np.resize(idx, count)  # the split's own digits, in turn
            photos, photo_labels, data["photo_refused"][split] = photo_digits(
                a["train_images"][chosen], a["train_labels"][chosen], seed, split, cache_dir)
            mix = rng.permutation(len(idx) + len(photos))
            images = np.concatenate([images, photos[:, None]])[mix]
            labels, is_photo = np.concatenate([labels, photo_labels])[mix], mix >= len(idx)
        data[split] = torch.from_numpy(images), torch.from_numpy(labels)
        data["is_photo"][split] = torch.from_numpy(is_photo)
    if photo_test:
        photos, photo_labels, data["photo_refused"]["test"] = photo_digits(
            a["test_images"][:photo_test], a["test_labels"][:photo_test], seed, "test", cache_dir)
        data["test_photo"] = torch.from_numpy(photos[:, None]), torch.from_numpy(photo_labels)
    return data

