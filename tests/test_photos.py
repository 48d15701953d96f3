"""The photo path as data: deterministic per seed, training looks for training, held-out looks and test digits
for the test set; and the per-batch augmentation."""
from pathlib import Path

import numpy as np
import pytest
import torch

from digitguard.runtime.contract import from_uint8
from digitguard.train import photos
from digitguard.train.augment import augment
from digitguard.train.data import load_arrays, load_splits
from digitguard.train.photos import STREAMS, photo_digits, read_photos, render_photos
from digitguard.train.render import HELD_OUT_LOOKS, TRAIN_LOOKS, render_with_look
from tests.helpers.mnist import mnist_sample, require_mnist

LOOK_KEYS = ("ink", "paper", "background", "blur")


def looks_named(looks):
    """Every name a look key can take in one of the renderer's look sets."""
    names = {key: set(looks[key]) for key in LOOK_KEYS}
    names["ink"] |= set(looks["light_ink"])
    names["paper"] |= set(looks["dark_paper"])
    return names


@pytest.mark.parametrize("split, looks", [("train", TRAIN_LOOKS), ("val", TRAIN_LOOKS), ("test", HELD_OUT_LOOKS)])
def test_each_split_draws_only_its_own_looks(split, looks):
    digits = mnist_sample()[0][:40]
    allowed = looks_named(looks)
    for i, photo in enumerate(render_photos(digits, 5, split)):
        rng = np.random.default_rng([5, STREAMS[split], i])
        image, look = render_with_look(digits[i], rng, held_out=split == "test")
        assert np.array_equal(photo, image)
        for key in LOOK_KEYS:
            assert key not in look or look[key] in allowed[key], (split, key, look[key])


def test_a_set_rendered_in_parts_is_the_set_rendered_whole():
    digits = mnist_sample()[0][:6]
    whole = render_photos(digits, 2, "test")
    parts = render_photos(digits[:4], 2, "test") + render_photos(digits[4:], 2, "test", first=4)
    assert all(np.array_equal(a, b) for a, b in zip(whole, parts))


def test_photo_digits_are_deterministic_per_seed_and_cached(tmp_path):
    digits, labels = mnist_sample()
    digits, labels = digits[:30], labels[:30]
    first = photo_digits(digits, labels, 0, "train")
    cached = photo_digits(digits, labels, 0, "train", tmp_path)
    again = photo_digits(digits, labels, 0, "train", tmp_path)  # read back from the file
    assert len(list(tmp_path.iterdir())) == 1
    for a, b, c in zip(first, cached, again):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    images, kept, refused = first
    assert images.shape == (30 - refused, 28, 28) and len(kept) == len(images) and images.dtype == np.float32
    assert not np.array_equal(images, photo_digits(digits, labels, 1, "train")[0])  # another seed, other photos
    assert not np.array_equal(images, from_uint8(digits)[: len(images), 0])  # photos, not the MNIST digits


def test_a_cached_set_is_not_reused_once_the_renderer_changed(tmp_path, monkeypatch):
    digits, labels = mnist_sample()
    before = photos._cache_path(tmp_path, digits[:5], labels[:5].astype(np.int64), 0, "train")
    edited = tmp_path / "render.py"
    edited.write_bytes(Path(photos.render_module.__file__).read_bytes() + b"# a changed renderer\n")
    monkeypatch.setattr(photos.render_module, "__file__", str(edited))
    assert photos._cache_path(tmp_path, digits[:5], labels[:5].astype(np.int64), 0, "train") != before


def test_refused_renders_are_dropped_and_counted():
    blank = np.full((40, 40, 3), 200, np.uint8)
    images, ok = read_photos([render_photos(mnist_sample()[0][:1], 0, "train")[0], blank])
    assert ok.tolist() == [True, False] and images.shape == (1, 28, 28)


def test_splits_mix_photos_in_and_the_test_photos_are_test_digits(tmp_path):
    folder = require_mnist()
    data = load_splits(folder, train_size=300, test_size=100, seed=4, photo_train=60, photo_val=40, photo_test=30,
                       cache_dir=tmp_path)
    for split, count in (("train", 60), ("val", 40)):
        x, y = data[split]
        is_photo = data["is_photo"][split]
        assert int(is_photo.sum()) == count - data["photo_refused"][split] and len(x) == len(y) == len(is_photo)
        assert 0 < int(is_photo[: len(x) // 2].sum()) < count  # shuffled: photos are spread through the split
    test = load_arrays(folder)
    expected, ok = read_photos(render_photos(test["test_images"][:30], 4, "test"))
    photo_x, photo_y = data["test_photo"]
    assert np.array_equal(photo_x[:, 0].numpy(), expected) and np.array_equal(photo_y, test["test_labels"][:30][ok])
    again = load_splits(folder, train_size=300, test_size=100, seed=4, photo_train=60, photo_val=40, photo_test=30)
    assert torch.equal(again["train"][0], data["train"][0]) and torch.equal(again["val"][1], data["val"][1])
    plain = load_splits(folder, train_size=300, test_size=100, seed=4)
    assert len(plain["train"][0]) == 300 and not plain["is_photo"]["train"].any() and "test_photo" not in plain


def test_augment_keeps_shape_and_range_and_the_digit_and_changes_the_image():
    x = torch.from_numpy(from_uint8(mnist_sample()[0][:64]))
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1
    assert ((out - x).abs().amax((1, 2, 3)) > 0.2).all()  # every image moved
    ink = out.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ((ink > 0.7) & (ink < 1.4)).all()  # small warps: the digit stays whole and inside the frame
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(out, augment(x, torch.Generator().manual_seed(1)))
