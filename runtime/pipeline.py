"""detect -> purify -> classify: the one prediction path behind both the API and the CLI."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from .contract import CLASSIFIERS, IMAGE_SIZE
from .errors import DigitguardError, InvalidInputError
from .imagefile import MAX_PIXELS, read_image
from .locate import apart, crop, in_a_row, locatable, locate_digits
from .manifest import Manifest
from .preprocess import ink_mask, to_mnist, to_mnist_stack
from .sessions import Classifier, Detector, Purifier, Screen, providers_for

BATCH = 256  # images per onnxruntime call: bounded memory, still efficient


@dataclass(frozen=True)
class Policy:
    """How the detector's verdict steers classification; the defaults come from the manifest's "policy".

    - An unflagged input (adversarial_score < the manifest's detector threshold) is decided by `classifier`.
    - A flagged input is first denoised by the purifier when `purify_flagged`, then decided by
      `flagged_classifier`; with `reject_flagged` it is rejected instead: its label is None (its
      probs still say what `flagged_classifier` thought).
    Classifier names are manifest model names: "baseline", "mitigation" or an INT8 copy ("mitigation.int8").
    """

    classifier: str = "mitigation"
    flagged_classifier: str = "mitigation"
    purify_flagged: bool = False  # the evaluation's choice: purified flagged images were read worse
    reject_flagged: bool = False

    def __post_init__(self):
        for name in (self.classifier, self.flagged_classifier):
            if not isinstance(name, str) or name.split(".")[0] not in CLASSIFIERS:
                raise InvalidInputError(f"{name!r} is not a classifier; use one of {', '.join(CLASSIFIERS)} "
                                        "(or its .int8 copy)")
        for flag in (self.purify_flagged, self.reject_flagged):
            if not isinstance(flag, bool):
                raise InvalidInputError(f"purify_flagged and reject_flagged must be True or False, got {flag!r}")

    @property
    def reclassifies_flagged(self) -> bool:
        """Whether flagged images need a classifier run of their own (purified, or another classifier)."""
        return self.purify_flagged or self.flagged_classifier != self.classifier

    def replace(self, overrides: dict) -> Policy:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InvalidInputError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **overrides)


@dataclass(frozen=True)
class Digit:
    """One digit of a number: where it is and how it was read."""

    box: tuple  # (x, y, w, h) in the image's pixels
    label: Optional[int]  # None: rejected (flagged under reject_flagged)
    confidence: float  # probability of the label (of the top class when rejected)
    adversarial_score: float
    flagged: bool

    def to_dict(self) -> dict:
        return {"box": list(self.box), "label": self.label, "confidence": self.confidence,
                "adversarial_score": self.adversarial_score, "flagged": self.flagged}


@dataclass  # not frozen: a frozen one sets each of its 11 fields by a call, 1.4 us of a single image's latency
class Result:
    """The outcome for one image. `error` is set (and the rest None) when that item could not be read.

    A still in which the locator finds several digits in a row is read as a number: `number` and `digits`
    are set, `adversarial_score` is the highest of its digits' and `flagged` whether any digit is; `label`,
    `confidence`, `probs`, `purified` and `classifier` are None (each digit has its own). Any other image is
    one digit: `number` and `digits` are None.
    """

    source: str  # the file, or "array[i]" for the i-th image of an array
    label: Optional[int] = None  # None: rejected (flagged under reject_flagged), a number, or failed (see error)
    confidence: Optional[float] = None  # probability of the label (of the top class when rejected)
    probs: Optional[tuple] = None  # 10 class probabilities from the deciding classifier
    adversarial_score: Optional[float] = None
    flagged: Optional[bool] = None
    purified: Optional[bool] = None
    classifier: Optional[str] = None  # the model that decided
    error: Optional[DigitguardError] = None
    number: Optional[str] = None  # the digits left to right, "?" for a rejected one
    digits: Optional[tuple] = None  # Digit, left to right

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        """JSON-ready: the error as its message; a number with its digits, one digit with today's fields."""
        if self.error is not None:
            return {"source": self.source, "error": str(self.error)}
        if self.digits is not None:
            return {"source": self.source, "number": self.number, "adversarial_score": self.adversarial_score,
                    "flagged": self.flagged, "digits": [digit.to_dict() for digit in self.digits]}
        return {"source": self.source, "label": self.label, "confidence": self.confidence, "probs": list(self.probs),
                "adversarial_score": self.adversarial_score, "flagged": self.flagged, "purified": self.purified,
                "classifier": self.classifier}

    @classmethod
    def of_number(cls, source: str, digits: tuple) -> Result:
        return cls(source, adversarial_score=max(d.adversarial_score for d in digits),
                   flagged=any(d.flagged for d in digits), number=read_number(d.label for d in digits), digits=digits)


def read_number(labels) -> str:
    """Labels left to right as a number; "?" for one the policy rejected (flagged, label None)."""
    return "".join("?" if label is None else str(label) for label in labels)


class Pipeline:
    """Detector, purifier and classifiers of one artifacts folder, run under one Policy."""

    def __init__(self, manifest: Manifest, policy: Policy, models: dict):
        self.manifest, self.policy, self.models = manifest, policy, models
        self.threshold = manifest.threshold
        # Scores are float32 and meet the threshold rounded to float32, as numpy (and the evaluation's torch) compare.
        self._threshold32 = float(np.float32(manifest.threshold))

    @classmethod
    def load(cls, artifacts=None, providers=None, device: str = "cpu", policy=None) -> Pipeline:
        """Load the models the policy needs from `artifacts` (default: the shipped ones), each checked
        against its manifest sha256 first. `policy` is a Policy, or a dict overriding some of the
        manifest's policy fields. Raises ManifestError, ModelError or InvalidInputError.

        Every image runs the detector and `policy.classifier`: from screen.onnx, the two fused into one
        call, when the manifest has one for that classifier; from their own files otherwise.
        """
        manifest = Manifest.load(artifacts)  # its policy is a valid Policy's fields
        policy = policy if isinstance(policy, Policy) else Policy(**manifest.policy).replace(policy or {})
        providers = providers_for(device, providers)
        if manifest.models.get("screen", {}).get("classifier") == policy.classifier:
            needed = {"screen": Screen}
        else:
            needed = {"detector": Detector, policy.classifier: Classifier}
        if policy.purify_flagged:
            needed["purifier"] = Purifier
        if policy.reclassifies_flagged:
            needed[policy.flagged_classifier] = Classifier
        return cls(manifest, policy, {name: kind(manifest.verify(name), providers) for name, kind in needed.items()})

    def predict(self, x) -> list:
        """One Result per image of `x`, in order.

        `x` is a file path (str or Path), encoded image bytes or a binary file object, an array
        (uint8/uint16/float in [0, 1]; [H, W], [H, W, 1|2|3|4], [N, H, W] or [N, 1, H, W]), or a list of
        those (arrays of one image each).
        A list, and a stack [N, H, W] or [N, 1, H, W], is a batch: an image that fails (unreadable file, NaN,
        no digit...) gets a Result whose `error` says why, and the others still get their predictions. A single
        path or image is one input: a problem with it raises a DigitguardError, as does an array whose shape
        or dtype no image can have.
        """
        if isinstance(x, (list, tuple)):
            parts = [self._prepare_item(item, _name(item, f"item[{i}]")) for i, item in enumerate(x)]
        else:
            sources, images, boxes, errors = self._prepare(x, "array" if isinstance(x, np.ndarray)
                                                           else _name(x, type(x).__name__))
            if not errors:  # the usual case, kept direct: one image costs tens of microseconds
                return _grouped(self._classify(sources, images), boxes)
            parts = [(sources, images, boxes, errors)]
        read = [(sources, images, errors) for sources, images, _, errors in parts if images is not None]
        kept = [s for sources, _, errors in read for i, s in enumerate(sources) if i not in errors]
        images = [im if not errors else np.delete(im, list(errors), 0) for _, im, errors in read]
        results = iter(self._classify(kept, images[0] if len(images) == 1 else np.concatenate(images)) if read else ())
        out = []  # every image of every part in order: its error, or the next of the batch's results
        for sources, _, boxes, errors in parts:
            out += _grouped([Result(s, error=errors[i]) if i in errors else next(results)
                             for i, s in enumerate(sources)], boxes)
        return out

    def read_digits(self, gray: np.ndarray) -> list:
        """Every digit the locator finds in a uint8 grey frame or photo, left to right, as Digits (the camera's
        reading; a blob with no digit in it after all, a faint smudge, is left out)."""
        boxes, images = _located(gray)
        return _digits(self._classify([""] * len(boxes), images), boxes)

    @classmethod
    def _prepare_item(cls, item, source: str) -> tuple:
        """`_prepare` for one item of a list: what fails becomes that item's error instead of raising."""
        try:
            return cls._prepare(item, source)
        except DigitguardError as e:
            return [source], None, None, {0: e}

    @staticmethod
    def _prepare(x, source: str) -> tuple:
        """([source of each image], float32 [n, 28, 28], boxes, {index: error}) for one file or array; its
        messages name the item. [H, W] and [H, W, C] (C = 1, 2 grey+alpha, 3 BGR, 4 BGRA) are one image, and a
        bad one raises: a still, read as a number (boxes: its digits' boxes, one image per digit) when the locator
        finds digits in a row, else whole as one digit (boxes None, as for every image of a stack). The images
        of a stack that fail are in the dict (their places in the array are black), and only a bad shape or
        dtype raises."""
        if not isinstance(x, np.ndarray):
            if isinstance(x, (str, Path, bytes, bytearray, memoryview)) or hasattr(x, "read"):  # a file or its bytes
                return _still(read_image(x, source), source)
            raise InvalidInputError(f"{source}: expected a path or a numpy array, got {type(x).__name__}")
        if x.ndim == 4 and x.shape[1] == 1:
            stack = x[:, 0]
        elif x.ndim == 3 and x.shape[2] not in (1, 2, 3, 4):
            stack = x
        elif x.ndim in (2, 3):
            return _still(x, source)
        else:
            raise InvalidInputError(f"{source}: shape {x.shape} is none of [H, W], [H, W, 1|2|3|4], "
                                    "[N, H, W], [N, 1, H, W]")
        if len(stack) == 0:
            raise InvalidInputError(f"{source}: no images (shape {x.shape})")
        images, errors = to_mnist_stack(stack, source)
        # a single image's name without a comprehension, whose frame costs a microsecond of its latency
        names = [f"{source}[0]"] if len(stack) == 1 else [f"{source}[{i}]" for i in range(len(stack))]
        return names, images, None, errors

    def _classify(self, sources: list, images: np.ndarray) -> list:
        """One Result per image of float32 [n, 28, 28], running the models in batches of BATCH."""
        images = images[:, None]
        if len(images) <= BATCH:  # one call, the usual case: one image's latency is made of per-call costs
            return self._run(images, sources)
        return [r for start in range(0, len(images), BATCH)
                for r in self._run(images[start:start + BATCH], sources[start:start + BATCH])]

    def _run(self, images: np.ndarray, sources: list) -> list:
        """The policy on one batch float32 [n, 1, 28, 28]."""
        policy = self.policy
        if "screen" in self.models:
            scores, probs = self.models["screen"].score_and_probs(images)
        else:
            scores, probs = self.models["detector"].score(images), self.models[policy.classifier].probs(images)
        # Plain Python values, converted once per batch: a Result holds no numpy scalars. Python's own comparisons
        # and max: on one image, each numpy call would cost more than all of them.
        scores = scores.tolist()
        flagged = [score >= self._threshold32 for score in scores]
        if any(flagged) and policy.reclassifies_flagged:
            mask = np.array(flagged)
            chosen = images[mask]
            if policy.purify_flagged:
                chosen = self.models["purifier"].purify(chosen)
            probs[mask] = self.models[policy.flagged_classifier].probs(chosen)
        return [Result(source, None if (flag and policy.reject_flagged) else label, p[label], tuple(p), score, flag,
                       flag and policy.purify_flagged, policy.flagged_classifier if flag else policy.classifier)
                for source, p, score, flag in zip(sources, probs.tolist(), scores, flagged)
                for label in (p.index(max(p)),)]


def _still(image: np.ndarray, source: str) -> tuple:
    """_prepare's answer for one image: its digits when the locator finds several in a row, else the whole."""
    gray = _locator_gray(image)
    if gray is not None:
        boxes, images = _located(gray)
        if len(boxes) >= 2 and in_a_row(boxes, gray.shape) and _parted(image, boxes):
            return [source] * len(boxes), images, boxes, {}
    try:
        return [source], to_mnist(image)[None], None, {}
    except InvalidInputError as e:
        raise type(e)(f"{source}: {e}") from None


def _parted(image: np.ndarray, boxes) -> bool:
    """Whether to_mnist's ink mask of the whole still has paper between the boxes (locate.apart), as between the
    digits of a number; a still in which to_mnist finds no digit as a whole keeps the locator's reading."""
    try:
        return apart(boxes, ink_mask(image), image.shape)
    except InvalidInputError:
        return True


def _locator_gray(image: np.ndarray):
    """uint8 grey of a photo-sized grey or BGR image for the locator; None for what is only read whole:
    MNIST-sized or too thin images, alpha channels, and arrays to_mnist refuses (it names the problem)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or image.shape[2] == 3) or not locatable(image.shape) \
            or image.shape[0] * image.shape[1] > MAX_PIXELS:
        return None
    if image.dtype.kind == "f":
        if not (image.min() >= 0 and image.max() <= 1):  # NaN fails too
            return None
        image = (image * 255 + 0.5).astype(np.uint8)
    elif image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _located(gray: np.ndarray) -> tuple:
    """([box of each digit the locator finds], float32 [n, 28, 28] their crops in MNIST form); crops in which
    to_mnist finds no digit are left out."""
    boxes, images = [], []
    for box in locate_digits(gray):
        try:
            images.append(to_mnist(crop(gray, box)))
        except InvalidInputError:
            continue
        boxes.append(box)
    return boxes, np.array(images, np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _digits(results, boxes) -> list:
    return [Digit(tuple(int(v) for v in box), r.label, r.confidence, r.adversarial_score, r.flagged)
            for r, box in zip(results, boxes)]


def _grouped(results, boxes) -> list:
    """The Results of one _prepare'd item: one per image, or one number when its images are a still's digits."""
    return results if boxes is None else [Result.of_number(results[0].source, tuple(_digits(results, boxes)))]


def _name(item, default: str) -> str:
    """What results and errors call an input: its path, a file object's name, or `default`."""
    return str(item) if isinstance(item, (str, Path)) else str(getattr(item, "name", default))
