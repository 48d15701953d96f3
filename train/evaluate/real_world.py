"""The paths users take, read through the runtime as it ships (preprocessing included): photos and a camera.

photo_path   MNIST *test* digits rendered as photos in looks no training image has (train/photos.py),
             each BGR photo given to `Pipeline.predict`; a photo refused as "no digit found" counts as wrong
camera_path  a generated multi-digit video of MNIST test digits (runtime/footage.py), read frame by frame by
             `runtime.video.process_stream`: the share of frames whose number is read exactly
number_path  photos of numbers, NUMBER_DIGITS MNIST test digits written side by side in held-out looks
             (render.render_number), each given whole to `Pipeline.predict`: the share read exactly as that number
writers_path real handwriting of people MNIST never had: the 13 writers of UCI's optdigits test set
             (scikit-learn's `load_digits`, 1,797 digits), 8x8 scans of 16 grey levels each given to
             `Pipeline.predict` as a user's low-resolution scan, upscaled (`upscaled_scan`)

Each path is read by each classifier alone (a pipeline whose policy lets it decide every image) and by the
shipped policy; the detector's false alarms (share of these clean images flagged) do not depend on which.
"""
import tempfile
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

from digitguard.runtime import Pipeline, Policy
from digitguard.runtime.contract import CLASSIFIERS
from digitguard.runtime.footage import write_video
from digitguard.runtime.video import number, open_source, process_stream

from ..batched import chunks
from ..data import load_arrays
from ..photos import STREAMS, render_photos
from ..render import render_number

PHOTO_BATCH = 500  # photos rendered and read at a time: 10,000 photos at once would hold about 600 MB
CAMERA_HOLD = 3  # frames per scene of the camera video: a new set of digits every 3 frames
NUMBER_DIGITS = 3  # digits of each photographed number
NUMBER_STREAM = len(STREAMS)  # the numbers' look draws: a stream of their own beside the photo sets'
WRITERS_STREAM = NUMBER_STREAM + 1  # and the writers' scans' upscaling draws
SCAN_SIDES = (32, 256)  # px: each 8x8 scan is upscaled to a side drawn log-uniformly in this range
SCAN_INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC)  # blocky, soft, sharpened: one drawn


def readers(ctx):
    """{name: pipeline}: each classifier deciding every image alone, then the shipped policy ("pipeline")."""
    alone = {name: Pipeline.load(ctx.args.artifacts, policy=Policy(name, name)) for name in CLASSIFIERS}
    return {**alone, "pipeline": ctx.runtime.pipeline}


def _test_digits(ctx, n):
    test = load_arrays(ctx.args.data_dir)
    return test["test_images"][:n], test["test_labels"][:n]


def photo_path(ctx):
    """Accuracy on held-out-look photos of test digits (refusals count as wrong), and the share flagged."""
    digits, truth = _test_digits(ctx, ctx.args.n_photo)
    pipelines = readers(ctx)
    right, refused, flagged = dict.fromkeys(pipelines, 0), 0, 0
    for part in tqdm(chunks(np.arange(len(digits)), PHOTO_BATCH), desc="photo path"):
        photos = render_photos(digits[part], ctx.args.seed, "test", first=part[0])
        part_right, part_refused, part_flagged = _read_by_each(pipelines, photos, truth[part])
        right = {name: right[name] + part_right[name] for name in right}
        refused, flagged = refused + part_refused, flagged + part_flagged
    figures = _figures(len(digits), right, refused, flagged, looks="held out")
    print("photo path:", figures)
    return figures


def _read_by_each(pipelines, images, labels) -> tuple:
    """({reader: images read right}, images refused, images flagged) for single-digit images read by every reader;
    refusals and flags are the same for every reader (one to_mnist, one flag), so the last reader's are counted."""
    right = {}
    for name, pipeline in pipelines.items():
        results = pipeline.predict(images)
        right[name] = sum(r.ok and r.label == int(label) for r, label in zip(results, labels))
    return right, sum(not r.ok for r in results), sum(r.ok and r.flagged for r in results)


def _figures(n, right, refused, flagged, **about) -> dict:
    """A path's figures: refusals count as wrong; the share flagged is of the images read."""
    return {"n": n, **about, "refused": refused / n, "flagged": flagged / max(1, n - refused),
            "accuracy": {name: count / n for name, count in right.items()}}


def camera_path(ctx):
    """Share of frames whose number is read exactly, of true digits read right, and of located digits flagged."""
    digits, labels = _test_digits(ctx, None)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "camera.mp4"
        truth = write_video(video, digits, labels, ctx.args.camera_frames, seed=ctx.args.seed, hold=CAMERA_HOLD)
        reads = {name: [found for _, _, found in process_stream(pipeline, open_source(video))]
                 for name, pipeline in tqdm(readers(ctx).items(), desc="camera path")}
    expected = ["".join(map(str, frame)) for frame in truth]
    counted = [len(found) == len(frame) for found, frame in zip(reads["pipeline"], truth)]  # alike for every reader
    located = [d for found in reads["pipeline"] for d in found]

    def digits_right(frames):  # position by position, in frames where the locator found as many digits as there are
        return sum(sum(a == b for a, b in zip(number(found), want))
                   for found, want, ok in zip(frames, expected, counted) if ok)

    figures = {"frames": len(truth), "digits": sum(map(len, truth)), "frames_per_scene": CAMERA_HOLD,
               "count_right": float(np.mean(counted)),
               "flagged": sum(d["flagged"] for d in located) / max(1, len(located)),
               "frames_exact": {name: float(np.mean([number(found) == want for found, want in zip(frames, expected)]))
                                for name, frames in reads.items()},
               "digit_accuracy": {name: digits_right(frames) / sum(map(len, truth)) for name, frames in reads.items()}}
    print("camera path:", figures)
    return figures


def number_path(ctx):
    """Share of photos of numbers read exactly (located as a number, every digit right) per reader; share flagged."""
    digits, labels = _test_digits(ctx, ctx.args.n_numbers * NUMBER_DIGITS)
    pipelines = readers(ctx)
    exact = dict.fromkeys(pipelines, 0)
    located = flagged = 0
    for i in tqdm(range(ctx.args.n_numbers), desc="number photos"):
        part = slice(i * NUMBER_DIGITS, (i + 1) * NUMBER_DIGITS)
        photo, _ = render_number(digits[part], np.random.default_rng([ctx.args.seed, NUMBER_STREAM, i]), held_out=True)
        want = "".join(map(str, labels[part]))
        for name, pipeline in pipelines.items():
            (result,) = pipeline.predict([photo])  # in a list: a photo it cannot read is an error result, not a raise
            exact[name] += bool(result.ok and result.number == want)
        located += bool(result.ok and result.number is not None and len(result.number) == NUMBER_DIGITS)
        flagged += bool(result.ok and result.flagged)
    n = ctx.args.n_numbers
    figures = {"n": n, "digits": NUMBER_DIGITS, "looks": "held out", "located": located / n, "flagged": flagged / n,
               "exact": {name: count / n for name, count in exact.items()}}
    print("number photos:", figures)
    return figures


def writers_path(ctx):
    """Accuracy on real handwriting of writers MNIST never had (UCI optdigits' test set), refusals counted wrong;
    the share of the read scans flagged."""
    uci = load_digits()
    n = min(ctx.args.n_writers, len(uci.target))
    scans = [upscaled_scan(image, np.random.default_rng([ctx.args.seed, WRITERS_STREAM, i]))
             for i, image in enumerate(uci.images[:n])]
    figures = _figures(n, *_read_by_each(readers(ctx), scans, uci.target), writers=13,
                       source="UCI optdigits test set (scikit-learn load_digits)")
    print("other writers:", figures)
    return figures


def upscaled_scan(digit16: np.ndarray, rng) -> np.ndarray:
    """One UCI 8x8 digit (ink 0..16) as a user's scan of it: dark ink on white paper, 1-3 scan pixels of paper
    around it, upscaled to a side in SCAN_SIDES by one of SCAN_INTERPOLATIONS. uint8 [side, side]."""
    paper = 255 - digit16.astype(np.float32) * (255 / 16)
    pad = int(rng.integers(1, 4))
    paper = cv2.copyMakeBorder(paper, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    side = int(np.exp(rng.uniform(*np.log(SCAN_SIDES))))
    interpolation = SCAN_INTERPOLATIONS[rng.integers(len(SCAN_INTERPOLATIONS))]
    return np.clip(cv2.resize(paper, (side, side), interpolation=interpolation) + 0.5, 0, 255).astype(np.uint8)
