"""The photo renderer: deterministic per seed, photo-like, and its held-out looks never drawn for training."""
import subprocess
import sys

import numpy as np

from digitguard.train.render import (HELD_OUT_LOOKS, TRAIN_LOOKS, render, render_number, render_set,
                                     render_with_look)
from tests.helpers.mnist import mnist_sample


def digits():
    return mnist_sample()[0]


def test_same_seed_same_image_other_seed_other_image():
    digit = digits()[0]
    for held_out in (False, True):
        assert np.array_equal(render(digit, 7, held_out), render(digit, 7, held_out))
        assert not np.array_equal(render(digit, 7, held_out), render(digit, 8, held_out))
    first, again = render_set(digits()[:5], seed=1), render_set(digits()[:5], seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_photos_are_bgr_uint8_from_30_to_300_px():
    sides = []
    for image in render_set(digits()[:60], seed=2):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        sides.append(max(image.shape[:2]))
    assert 30 <= min(sides) < 60 and 150 < max(sides) <= 300


def looks_drawn(held_out: bool, n: int = 300) -> dict:
    """Every value each look key took over n renders."""
    drawn = {}
    for i in range(n):
        _, look = render_with_look(digits()[i % 200], i, held_out)
        for key, value in look.items():
            if key != "size":
                drawn.setdefault(key, set()).add(str(value))
    return drawn


def test_held_out_looks_are_never_drawn_for_training():
    train, held_out = looks_drawn(False), looks_drawn(True)
    only_held_out = {"ink": {"red", "green", "violet", "yellow"}, "paper": {"blue-grey", "pink", "black card"},
                     "background": {"grid", "cardboard"}, "blur": {"defocus"}}
    for key, names in only_held_out.items():
        assert names <= held_out[key]  # each is drawn for the test set...
        assert not names & train[key]  # ...and never for training
    assert {"plain", "ruled", "specks"} <= train["background"] and "motion" in train["blur"]
    assert set(TRAIN_LOOKS["ink"]).isdisjoint(HELD_OUT_LOOKS["ink"])


def test_both_polarities_and_both_kinds_are_drawn():
    looks = [render_with_look(d, i)[1] for i, d in enumerate(digits()[:200])]
    assert 0.1 < np.mean([look["kind"] == "scan" for look in looks]) < 0.4
    assert 0.05 < np.mean([look.get("ink") == "chalk" for look in looks]) < 0.3  # light ink on a dark board


def test_numbers_are_photos_of_their_digits_side_by_side_in_the_split_s_looks():
    three = digits()[:3]
    for held_out, looks in ((False, TRAIN_LOOKS), (True, HELD_OUT_LOOKS)):
        photo, look = render_number(three, 5, held_out)
        assert np.array_equal(photo, render_number(three, 5, held_out)[0])
        assert photo.dtype == np.uint8 and photo.shape[2] == 3 and photo.shape[1] > 2 * photo.shape[0]
        assert look["digits"] == 3 and look["ink"] in {**looks["ink"], **looks["light_ink"]}


def test_renderer_needs_no_torch():
    """Runtime-only test environments use it too."""
    code = "import sys, digitguard.train.render; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
