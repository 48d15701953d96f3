"""to_mnist: MNIST-like input untouched, photos and scans brought back to the MNIST convention."""
import time

import numpy as np
import pytest

from digitguard.runtime import InvalidInputError, Pipeline, to_mnist
from digitguard.runtime.contract import from_uint8
from tests.helpers.images import drawn_digit, mnist_test, photo_like


def test_mnist_digits_pass_through_unchanged():
    digits, _ = mnist_test(200)
    for digit in digits:
        expected = from_uint8(digit)[0, 0]
        assert np.array_equal(to_mnist(digit), expected)
        assert np.array_equal(to_mnist(expected), expected)  # float input: the very same values


def test_drawn_white_on_black_digit_passes_through_unchanged():
    digit = drawn_digit("3")
    assert np.array_equal(to_mnist(digit), digit.astype(np.float32) / 255)


def test_dark_on_light_28x28_is_inverted():
    digits, _ = mnist_test(20)
    for digit in digits:
        out = to_mnist(255 - digit)
        assert out[0, 0] == 0 and out.max() == pytest.approx(1.0)
        assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.9


def test_photos_map_back_to_their_mnist_digit():
    digits, _ = mnist_test(100)
    rng = np.random.default_rng(0)
    similarity = []
    for digit in digits:
        out = to_mnist(photo_like(digit, rng))
        assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() <= out.max() <= 1
        similarity.append(np.corrcoef(out.ravel(), digit.ravel())[0, 1])
    assert np.mean(similarity) > 0.85


@pytest.mark.parametrize("blank", [np.full((60, 40), 200, np.uint8), np.zeros((50, 50, 3), np.uint8)])
def test_blank_image_is_refused(blank):
    with pytest.raises(InvalidInputError, match="no digit"):
        to_mnist(blank)


def test_fast_enough_for_the_camera():
    crop = photo_like(drawn_digit("5"), np.random.default_rng(1), scale=3, margin=10)  # ~100x100 BGR
    to_mnist(crop)
    start = time.perf_counter()
    for _ in range(200):
        to_mnist(crop)
    assert (time.perf_counter() - start) / 200 < 0.005  # generous: well under 1 ms on an idle core


def photo_accuracy(artifacts, n=100):
    digits, labels = mnist_test(n)
    rng = np.random.default_rng(2)
    pipeline = Pipeline.load(artifacts)
    read = lambda images: np.mean([r.label for r in pipeline.predict(images)] == labels)
    return read([photo_like(d, rng) for d in digits]), read(digits)


def test_photos_read_as_well_as_mnist(quick_artifacts):
    photos, mnist = photo_accuracy(quick_artifacts)
    assert photos >= mnist - 0.05


def test_photos_read_correctly_by_shipped_models(shipped_artifacts):
    photos, _ = photo_accuracy(shipped_artifacts)
    assert photos >= 0.9
