"""The photo path as data: MNIST digits rendered as photos (render.py) and read by the runtime's own `to_mnist`,
so that training and evaluation see exactly what users' photos become.

Image i of a set is rendered from the generator seeded with (seed, stream of its split, i): training,
validation and test photos never share a look draw, and the same seed always makes the same set.
Training and validation photos are drawn with TRAIN_LOOKS only; test photos (made from MNIST *test*
digits) with HELD_OUT_LOOKS only. Renders that to_mnist refuses ("no digit found") are dropped and counted.
"""
import hashlib
from pathlib import Path

import numpy as np

from digitguard.runtime import preprocess
from digitguard.runtime.errors import InvalidInputError
from digitguard.runtime.preprocess import to_mnist

from . import render as render_module
from .render import render

CACHE_FOLDER = "photos"  # training keeps rendered sets in this folder beside its checkpoints
STREAMS = {"train": 0, "val": 1, "test": 2}
HELD_OUT = {"train": False, "val": False, "test": True}  # only the test set has the looks training never sees


def render_photos(digits, seed, split, first=0):
    """BGR uint8 photos of uint8 [N, 28, 28] MNIST digits, with the looks of `split` ("train", "val" or "test");
    the digits are images `first`, `first + 1`... of the set (a set rendered in parts is the set rendered whole)."""
    return [render(digit, np.random.default_rng([seed, STREAMS[split], first + i]), HELD_OUT[split])
            for i, digit in enumerate(digits)]


def read_photos(photos):
    """(float32 [M, 28, 28] to_mnist of the photos it reads, bool [N] which ones it read)."""
    read, ok = [], np.zeros(len(photos), bool)
    for i, photo in enumerate(photos):
        try:
            read.append(to_mnist(photo))
            ok[i] = True
        except InvalidInputError:  # "no digit found": the runtime would refuse this photo too
            pass
    return np.array(read, np.float32).reshape(-1, 28, 28), ok


def photo_digits(digits, labels, seed, split, cache_dir=None):
    """(float32 [M, 28, 28] photo-path digits, int64 [M] labels, renders refused) from uint8 [N, 28, 28] digits.

    With `cache_dir`, the set is kept in a file named by the split, seed, count and a digest of the digits and of
    the code that renders and reads them, and read back from it next time (10,000 digits take about 45 s on one core).
    """
    labels = np.asarray(labels, np.int64)
    cache = _cache_path(cache_dir, digits, labels, seed, split) if cache_dir else None
    if cache and cache.is_file():
        with np.load(cache) as saved:
            return saved["images"], saved["labels"], int(saved["refused"])
    images, ok = read_photos(render_photos(digits, seed, split))
    kept, refused = labels[ok], int((~ok).sum())
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npz")  # written whole, then renamed: a killed run leaves no half file
        np.savez_compressed(partial, images=images, labels=kept, refused=refused)
        partial.replace(cache)
    return images, kept, refused


def _cache_path(cache_dir, digits, labels, seed, split) -> Path:
    """Named by the digits, labels and the code that made the set (the renderer and to_mnist): a set cached before
    either changed is rendered again, never silently reused."""
    code = b"".join(Path(module.__file__).read_bytes() for module in (render_module, preprocess))
    digest = hashlib.sha1(np.ascontiguousarray(digits).tobytes() + labels.tobytes() + code).hexdigest()[:12]
    return Path(cache_dir) / f"{split}-seed{seed}-n{len(digits)}-{digest}.npz"
