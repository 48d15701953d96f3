"""The adversarial flag, built for the attacker who knows it (#13): `python -m digitguard.train flag`.

The detector alone is evaded by an attack that sees it: once the robust classifier's label is wrong, pushing
the detector under its threshold almost always works. What fools a TRADES classifier at ε = 0.3 tends to
sit near its boundary, so the flag adds the classifier's own evidence, its top-1 minus top-2 logit margin:

    z = detector_logit - margin_weight * class_margin + offset,    adversarial score = sigmoid(z)

with detector_logit = the detector's adversarial minus clean logit. The offset puts the threshold at 0.5
(z >= 0), set so that no path of the validation split (MNIST digits, and photo-path digits: rendered photos
read back by the runtime's to_mnist, data.load_splits) has more than FLAG_FPR of its clean images flagged.
The margin weight is chosen by attacking: for each candidate, the selective attack aware of that very score
is run on MNIST validation images, and the weight that leaves the fewest silently wrong wins. The test set is never used.

The shipped detector.onnx IS this flag: image -> [N, 2] logits [0, z], so softmax(...)[:, 1] is the score
every path (screen.onnx, the detector session, INT8) compares with the manifest's threshold.
"""
import json

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from digitguard.runtime import Policy
from digitguard.runtime.contract import ADVERSARIAL_INDEX, EPS

from . import checkpoint
from .attacks import Selective
from .batched import chunks, predict
from .evaluate.threat import Defended

NAME = "flag"
CLASSIFIER = "mitigation"  # the deciding classifier of the shipped policy, whose evidence the flag reads
FLAG_FPR = 0.005  # of each path's clean validation images: a photo of a 3-digit number is flagged when any of its
# digits is, so 0.5 % a digit keeps such photos near the 1.5 % that #12 allows every clean path (1 % gave 4 %)
THRESHOLD = 0.5  # the offset moves the fitted boundary here: flagged <=> z >= 0
MARGIN_WEIGHTS = (0.0, 1.0, 2.0, 4.0)  # the candidates; 0 is the detector alone
# per training profile: MNIST validation images attacked, attack steps. The weights' silently-wrong shares differ by
# a few tenths of a point: on 500 images (one image: 0.2 points) the pick was noise (release 6 picked 1, which 2,000
# images with 2 restarts rank below 0)
SIZES = {"quick": (100, 20), "full": (2000, 100)}
RESTARTS = 2


def detector_logit(detector_logits):
    """[N] the detector's adversarial minus clean logit: its score is sigmoid of this."""
    return detector_logits[:, ADVERSARIAL_INDEX] - detector_logits[:, 1 - ADVERSARIAL_INDEX]


def class_margin(class_logits):
    """[N] top-1 minus top-2 logit: how sure the classifier is of the label it gives."""
    top = class_logits.topk(2, 1).values
    return top[:, 0] - top[:, 1]


class Combination(nn.Module):
    """The fitted constants, all a flag checkpoint holds."""

    def __init__(self, margin_weight=0.0, offset=0.0):
        super().__init__()
        self.register_buffer("margin_weight", torch.tensor(float(margin_weight)))
        self.register_buffer("offset", torch.tensor(float(offset)))

    def forward(self, detector_logits, class_logits=None):
        """-> [N] z, the flag's logit: >= 0 means flagged. `class_logits` None: a zero margin weight's flag."""
        z = detector_logit(detector_logits)
        if class_logits is not None:
            z = z - self.margin_weight * class_margin(class_logits)
        return z + self.offset


class Flag(nn.Module):
    """image [N,1,28,28] -> [N, 2] logits with z at ADVERSARIAL_INDEX and 0 at the other: a detector's output."""

    def __init__(self, detector, classifier, combination):
        super().__init__()
        self.detector, self.classifier, self.combination = detector, classifier, combination
        # Fixed when built (after its constants are loaded): with a zero weight the classifier adds nothing to the
        # score, so detector.onnx and pipeline.onnx leave it out instead of running it for nothing.
        self.reads_margin = float(combination.margin_weight) != 0

    def forward(self, image):
        return self.logits(self.detector(image), self.classifier(image) if self.reads_margin else None)

    def logits(self, detector_logits, class_logits):
        """The flag from the two models' logits, for graphs that already ran the classifier (screen.onnx)."""
        z = self.combination(detector_logits, class_logits if self.reads_margin else None)
        zero = torch.zeros_like(z)
        return torch.stack([z, zero] if ADVERSARIAL_INDEX == 0 else [zero, z], 1)


def load(out_dir, detector, classifier):
    """The Flag over `detector` and `classifier` with the constants saved in `out_dir`, and its info."""
    weights, info = checkpoint.paths(out_dir, NAME)
    if not weights.is_file() or not info.is_file():
        raise FileNotFoundError(f"no {NAME} checkpoint in {out_dir}: run `python -m digitguard.train {NAME}` first")
    combination = Combination()
    combination.load_state_dict(load_file(str(weights)))
    return Flag(detector, classifier, combination).eval(), json.loads(info.read_text())


def attacked_as_shipped(detector, classifier, threshold=THRESHOLD):
    """The shipped policy as the evaluation's adaptive attacks see it: `classifier` reads every image, `detector`
    (the flag, or a detector in training with its own threshold on the score) flags it."""
    models = {"detector": detector, "purifier": None, CLASSIFIER: classifier}
    return Defended(models, Policy(CLASSIFIER, CLASSIFIER, False, False), threshold)


def offset_for(evidence, is_photo, margin_weight):
    """The offset that flags at most FLAG_FPR of each path's clean images, given their (detector logits, class
    margins): the highest of the paths' own quantiles, as the detector's threshold is set."""
    detector_logits, margins = evidence
    z = (detector_logits - margin_weight * margins).numpy()
    paths = [path for path in (~is_photo.numpy(), is_photo.numpy()) if path.any()]
    return -float(max(np.quantile(z[path], 1 - FLAG_FPR) for path in paths))


def silently_wrong(aware, images, labels, device):
    out = predict(aware, images, device)  # on the CPU, whatever the device
    return float(((out[:, :-1].argmax(1) != labels.cpu()) & (out[:, -1] < 0)).float().mean())


def train_flag(profile, data, args, attacked_sets):
    """Fit the margin weight by the aware attack's result on validation; the offset by the clean validation paths."""
    detector, _ = checkpoint.load(args.out, "detector", args.device)
    classifier, _ = checkpoint.load(args.out, CLASSIFIER, args.device)
    (val_x, val_y), is_photo = data["val"], data["is_photo"]["val"]
    n_attack, steps = SIZES[args.profile]
    evidence = detector_logit(predict(detector, val_x, args.device)), class_margin(predict(classifier, val_x, args.device))
    mnist_x, mnist_y = val_x[~is_photo][-n_attack:], val_y[~is_photo][-n_attack:]  # the threat model: ε on MNIST digits
    attack_x, attack_y = mnist_x.to(args.device), mnist_y.to(args.device)

    candidates = {}
    for weight in tqdm(MARGIN_WEIGHTS, desc="flag margin weight"):
        flag = Flag(detector, classifier, Combination(weight, offset_for(evidence, is_photo, weight))).eval()
        aware = attacked_as_shipped(flag, classifier)
        attack = Selective(aware, EPS, steps=steps, restarts=RESTARTS)
        adv = torch.cat([attack(x, y) for x, y in zip(chunks(attack_x, 250), chunks(attack_y, 250))])
        candidates[weight] = silently_wrong(aware, adv, attack_y, args.device)
        tqdm.write(f"flag: margin weight {weight}: {candidates[weight]:.4f} silently wrong under the aware attack")
    weight = min(candidates, key=lambda w: (candidates[w], w))  # ties: the smaller weight, closer to the detector alone
    combination = Combination(weight, offset_for(evidence, is_photo, weight))
    flag = Flag(detector, classifier, combination).eval()
    flagged = predict(flag, val_x, args.device).softmax(1)[:, ADVERSARIAL_INDEX] >= THRESHOLD
    metrics = {"threshold": THRESHOLD, "margin_weight": weight, "offset": float(combination.offset),
               "val_clean_fpr": float(flagged.float().mean()),
               "val_clean_fpr_mnist": float(flagged[~is_photo].float().mean()),
               **({"val_clean_fpr_photo": float(flagged[is_photo].float().mean())} if is_photo.any() else {}),
               **{f"val_silently_wrong_aware_weight_{w:g}": s for w, s in candidates.items()}}
    config = {"classifier": CLASSIFIER, "target_fpr": FLAG_FPR, "margin_weights": list(MARGIN_WEIGHTS),
              "val_images": len(val_x), "val_photo_images": int(is_photo.sum()), "attacked_val_images": len(attack_x),
              "attack": f"selective aware of the flag, {steps} steps, {RESTARTS} restarts, ε {EPS}"}
    return combination, config, metrics
