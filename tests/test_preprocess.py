"""to_mnist: MNIST-like input untouched, photos and scans made into MNIST digits, blank and noisy input
refused on every path, and cost bounded whatever the input's size."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from digitguard.runtime import InvalidInputError, Pipeline, to_mnist
from digitguard.runtime.contract import from_uint8
from digitguard.runtime.preprocess import to_mnist_stack
from digitguard.train.render import render_set

from tests.helpers import REPO
from tests.helpers.mnist import mnist_sample, mnist_test_set

BASELINE = {"classifier": "baseline", "flagged_classifier": "baseline"}


def accuracy(results, labels) -> float:
    return float(np.mean([r.ok and r.label == label for r, label in zip(results, labels)]))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 digits, the best over shifts of up to a pixel (centring by mass rounds)."""
    return max(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_mnist_digits_pass_through_unchanged():
    digits, _ = mnist_sample()
    expected = from_uint8(digits)[:, 0]
    for digit, want in zip(digits, expected):
        assert np.array_equal(to_mnist(digit), want)
        assert np.array_equal(to_mnist(want), want)  # float input: the very same values
    assert np.array_equal(to_mnist_stack(digits)[0], expected)


def test_attacked_mnist_digits_pass_through_unchanged():
    """An L-inf perturbation of 0.3 lights up the black border: the detector must still see it as it is."""
    digits, _ = mnist_sample()
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, digits.shape).astype(np.float32)
    attacked = np.clip(from_uint8(digits)[:, 0] + noise, 0, 1)
    for image in attacked[:50]:
        assert np.array_equal(to_mnist(image), image)
    assert np.array_equal(to_mnist_stack(attacked)[0], attacked)


def test_every_mnist_test_digit_passes_through_unchanged():
    """None of the 10,000 is taken for blank or noise by the fast path's checks."""
    digits, _ = mnist_test_set()
    images, errors = to_mnist_stack(digits)
    assert np.array_equal(images, from_uint8(digits)[:, 0]) and not errors


def test_float32_stack_is_read_in_place_never_written():
    """A valid float32 stack is used as it is; one holding a blank or photo-like image is copied before any write."""
    digits, _ = mnist_sample()
    stack = from_uint8(digits[:4])[:, 0]
    images, errors = to_mnist_stack(stack)
    assert images is stack and not errors
    stack[1] = 0  # blank: refused, and its place in the answer is black
    stack[2] = 1 - stack[2]  # dark on light: through to_mnist
    stack[3, 0, 0] = -0.0  # a pixel OpenCV's range check refuses, numpy's accepts
    before = stack.copy()
    images, errors = to_mnist_stack(stack)
    assert list(errors) == [1] and np.array_equal(stack, before) and np.signbit(stack[3, 0, 0])
    assert images is not stack and np.array_equal(images[[0, 3]], stack[[0, 3]])
    assert similarity(images[2], from_uint8(digits[2])[0, 0]) > 0.9  # inverted back


def test_dark_on_light_28x28_is_inverted():
    digits, _ = mnist_sample()
    for digit in digits[:20]:
        out = to_mnist(255 - digit)
        assert out[0, 0] == 0 and out.max() == pytest.approx(1.0)
        assert similarity(out, digit) > 0.8  # strokes re-drawn at MNIST's median width


def test_photo_becomes_an_mnist_digit():
    """Longest side 20 px, centre of mass at the centre, saturated strokes about MNIST's width."""
    digits, _ = mnist_sample()
    for photo in render_set(digits[:30], seed=3, kind="photo"):
        out = to_mnist(photo)
        assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() == 1
        ys, xs = np.nonzero(out > 0)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 == 20
        centre = np.array([(out * np.arange(28)[:, None]).sum(), (out * np.arange(28)).sum()]) / out.sum()
        assert np.all(np.abs(centre - 14) <= 1)
        assert 0.05 < np.mean(out > 0.5) < 0.35  # strokes neither hairlines nor blobs


def ruled_photo(digit: np.ndarray) -> np.ndarray:
    """A 28x28 digit as dark ink on paper, 6x larger, with ruled lines through it and a table beyond the paper."""
    ink = cv2.resize(digit, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    photo = 230 * (1 - 0.85 * ink)
    photo[::40] = 150  # ruled lines, 1 px, across the whole crop
    photo[:, -12:] = 40  # the table beside the paper
    photo[20, 20:23] = 0  # a speck
    return photo.astype(np.uint8)


def test_lines_specks_and_paper_edges_do_not_widen_the_crop():
    digits, _ = mnist_sample()
    for digit in digits[:20]:
        clean = to_mnist(255 - cv2.resize(digit, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC))
        assert similarity(to_mnist(ruled_photo(digit)), clean) > 0.85


def test_light_ink_on_dark_paper_and_colour_casts():
    digits, _ = mnist_sample()
    big = cv2.resize(digits[0], None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    chalk = np.dstack([40 + 0.7 * big, 60 + 0.7 * big, 40 + 0.75 * big]).astype(np.uint8)  # on a green board
    red_on_pink = np.dstack([215 - 0.7 * big, 205 - 0.7 * big, 245 - 0.1 * big]).astype(np.uint8)
    reference = to_mnist(255 - big)
    for photo in (chalk, red_on_pink):
        assert similarity(to_mnist(photo), reference) > 0.9


def marker_crop(digit: np.ndarray, pen: int, margin: float) -> np.ndarray:
    """A 28x28 digit written with a pen `pen` px wide on a 200-px sheet, cropped to its ink with `margin` of it
    around: dark on white, uint8."""
    ink = (cv2.resize(digit, (200, 200), interpolation=cv2.INTER_CUBIC) > 100).astype(np.uint8)
    ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)))
    ys, xs = np.nonzero(ink)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    pad = round(margin * max(ink.shape))
    return 255 - 255 * cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)


@pytest.mark.parametrize("pen", [1, 9], ids=["pen", "marker"])
def test_tight_crops_read_as_roomy_ones(pen):
    """Ink filling most of a crop keeps its polarity, and its broad strokes are not taken for ruled lines: a crop
    with 3 % of paper around the digit becomes what the same strokes with 25 % become (release 5's to_mnist:
    67 % and 10 % of these)."""
    digits, _ = mnist_sample()
    for digit in digits[:60]:
        assert similarity(to_mnist(marker_crop(digit, pen, 0.03)), to_mnist(marker_crop(digit, pen, 0.25))) > 0.8


BLANK = {
    "black 28x28": np.zeros((28, 28), np.uint8),
    "black 28x28 float": np.zeros((28, 28), np.float32),
    "white 28x28": np.full((28, 28), 255, np.uint8),
    "grey 28x28": np.full((28, 28), 0.4, np.float32),
    "one bright pixel 28x28": np.pad(np.full((1, 1), 255, np.uint8), ((13, 14), (13, 14))),
    "grey 60x40": np.full((60, 40), 200, np.uint8),
    "black 50x50 BGR": np.zeros((50, 50, 3), np.uint8),
    "paper 640x480 BGR": np.full((480, 640, 3), (200, 220, 230), np.uint8),
}


@pytest.mark.parametrize("name", BLANK)
def test_blank_input_is_refused_on_every_path(name, shipped_artifacts):
    blank = BLANK[name]
    with pytest.raises(InvalidInputError, match="no digit found"):
        to_mnist(blank)
    images, errors = to_mnist_stack(blank[None])
    assert list(errors) == [0] and str(errors[0]).startswith("image[0]: no digit found") and not images.any()
    pipeline = Pipeline.load(shipped_artifacts)
    with pytest.raises(InvalidInputError, match="^array: no digit found"):
        pipeline.predict(blank)
    if blank.shape == (28, 28):  # the vectorised stack paths, [N, H, W] and [N, 1, H, W]
        digits, _ = mnist_sample()
        stack = np.concatenate([digits[:3], (blank * (255 if blank.dtype != np.uint8 else 1)).astype(np.uint8)[None]])
        for shaped in (stack, stack[:, None]):  # a batch: the blank one gets its error, the others their labels
            results = pipeline.predict(shaped)
            assert str(results[3].error).startswith("array[3]: no digit found")
            assert [r.label for r in results[:3]] == list(mnist_sample()[1][:3])
    first, second = pipeline.predict([blank, mnist_sample()[0][0]])
    assert str(first.error).startswith("item[0]: no digit found") and second.label == mnist_sample()[1][0]


def test_no_digit_error_names_the_file(tmp_path, shipped_artifacts):
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((40, 40), 255, np.uint8))
    (result,) = Pipeline.load(shipped_artifacts).predict([path])
    assert str(result.error).startswith(f"{path}: no digit found")


def noise_images():
    rng = np.random.default_rng(0)
    for size in ((28, 28), (60, 40), (100, 100), (480, 640)):
        for _ in range(5):
            yield rng.integers(0, 256, size, dtype=np.uint8)
            yield np.clip(rng.normal(128, 40, size), 0, 255).astype(np.uint8)
            yield rng.integers(0, 256, size + (3,), dtype=np.uint8)
            yield ((rng.random(size) < 0.05) * 255).astype(np.uint8)  # salt on black
            yield ((rng.random(size) > 0.05) * 255).astype(np.uint8)  # pepper on white
            blocks = rng.integers(0, 256, (size[0] // 4 + 1, size[1] // 4 + 1), dtype=np.uint8)
            yield np.kron(blocks, np.ones((4, 4), np.uint8))[:size[0], :size[1]]


@pytest.mark.parametrize("policy", [None, BASELINE], ids=["shipped", "baseline"])
def test_pure_noise_is_refused_or_flagged(policy, shipped_artifacts):
    """Never an unflagged label with confidence above 0.5."""
    results = Pipeline.load(shipped_artifacts, policy=policy).predict(list(noise_images()))
    confident = [r.source for r in results if r.ok and not r.flagged  # a still read as a number: any of its digits
                 and max([r.confidence] if r.number is None else [d.confidence for d in r.digits]) > 0.5]
    assert not confident


def test_aspect_ratio_beyond_100_to_1_is_refused():
    for shape in ((3, 60_000), (60_000, 3), (10, 1001)):
        with pytest.raises(InvalidInputError, match="aspect ratio"):
            to_mnist(np.full(shape, 255, np.uint8))


def test_a_strip_of_ten_digits_is_still_processed():
    digits, _ = mnist_sample()
    strip = np.hstack([np.pad(255 - d, 8, constant_values=255) for d in digits[:10]])  # 44x440: 10:1
    assert to_mnist(strip).shape == (28, 28)


BOUNDED = """
import sys
import cv2, numpy as np
from digitguard.runtime import InvalidInputError, read_image, to_mnist
from digitguard.runtime.bench import rss_mb
path = sys.argv[1]
cv2.imwrite(path, np.full((3, 60_000), 255, np.uint8))
try:
    to_mnist(read_image(path))
except InvalidInputError:
    pass
photo = np.full((4000, 4000, 3), 220, np.uint8)
cv2.putText(photo, "7", (1200, 3000), cv2.FONT_HERSHEY_SIMPLEX, 60, (30, 30, 30), 250)
assert to_mnist(photo).shape == (28, 28)
print(rss_mb("VmHWM"))
"""


def test_huge_and_thin_images_take_bounded_memory(tmp_path):
    """Issue #11 item 1: a 3x60,000 PNG took 3.8 GB; a 4000x4000 photo 23 s. Peak memory of a fresh
    process must stay a few hundred MB (the 4000x4000 BGR input alone is 48 MB)."""
    done = subprocess.run([sys.executable, "-c", BOUNDED, str(tmp_path / "thin.png")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)  # a hang guard, not a timing
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) < 400


def test_grey_alpha_array_is_one_image(shipped_artifacts):
    digits, labels = mnist_sample()
    pipeline = Pipeline.load(shipped_artifacts)
    dark_on_transparent = np.dstack([np.zeros_like(digits[0]), digits[0]])  # the shape only in the alpha
    white_on_transparent = np.dstack([np.full_like(digits[1], 255), digits[1]])
    opaque = np.dstack([255 - digits[2], np.full_like(digits[2], 255)])
    for i, image in enumerate((dark_on_transparent, white_on_transparent, opaque)):
        (result,) = pipeline.predict(image)
        assert result.label == labels[i]
    results = pipeline.predict([dark_on_transparent, digits[3], white_on_transparent])
    assert [r.source for r in results] == ["item[0]", "item[1]", "item[2]"]
    assert [r.label for r in results] == [labels[0], labels[3], labels[1]]


@pytest.mark.parametrize("policy, least", [(None, 0.93), (BASELINE, 0.95)], ids=["shipped", "baseline"])
def test_held_out_photos_are_read_by_the_shipped_models(policy, least, shipped_artifacts):
    """Photos in looks no model was trained on, of MNIST test digits: today's models read 95-97 % of
    these 200 (the previous to_mnist: about 56 %) and flag none."""
    digits, labels = mnist_sample()
    results = Pipeline.load(shipped_artifacts, policy=policy).predict(render_set(digits, seed=0, held_out=True))
    assert accuracy(results, labels) >= least
    assert np.mean([bool(r.flagged) for r in results]) <= 0.02


def test_photos_read_as_well_as_mnist(quick_artifacts):
    digits, labels = mnist_sample()
    pipeline = Pipeline.load(quick_artifacts)
    photos = accuracy(pipeline.predict(render_set(digits[:100], seed=2, kind="photo")), labels)
    assert photos >= accuracy(pipeline.predict(digits[:100]), labels) - 0.1

