"""The defended model as an attacker who knows the whole defence sees it, and the losses such an attacker raises."""
import math

import torch
import torch.nn.functional as F

from digitguard.runtime.contract import ADVERSARIAL_INDEX, NUM_CLASSES

from ..attacks import cross_entropy

EVADE_WEIGHT = 10.0  # how hard the adaptive loss pushes the detector margin under the threshold
EVADE_SLACK = 1.0  # ... and how far under it (logit units), so the flag stays off after rounding


class Defended(torch.nn.Module):
    """The runtime's policy as one differentiable module: what an attacker who knows the defence differentiates.

    forward(x [N,1,28,28]) -> [N, 11]: the deciding classifier's logits, then the detector's margin over
    the shipped threshold in logit units (>= 0 means flagged). The detector is the shipped flag
    (train/flag.py), whose logit already holds the classifier's margin. `bpda=True` replaces the purifier's
    gradient by the identity (Athalye et al., 2018), for when its own gradient is uninformative.
    """

    def __init__(self, models, policy, threshold, bpda=False):
        super().__init__()
        self.detector, self.purifier = models["detector"], models["purifier"]
        self.classifier = models[policy.classifier.split(".")[0]]
        self.flagged_classifier = models[policy.flagged_classifier.split(".")[0]]
        self.purify, self.bpda = policy.purify_flagged, bpda
        t = min(max(threshold, 1e-7), 1 - 1e-7)
        self.logit_threshold = math.log(t / (1 - t))  # adversarial score >= t  <=>  logit difference >= logit(t)

    def forward(self, x):
        class_logits = self.classifier(x)
        if getattr(self.detector, "classifier", None) is self.classifier:  # the flag reads these logits: run once
            detector_logits = self.detector.logits(self.detector.detector(x), class_logits)
        else:
            detector_logits = self.detector(x)
        clean_index = 1 - ADVERSARIAL_INDEX
        margin = detector_logits[:, ADVERSARIAL_INDEX] - detector_logits[:, clean_index] - self.logit_threshold
        flagged = (margin >= 0).detach()
        seen = x
        if self.purify:
            purified = self.purifier(x)
            if self.bpda:
                purified = x + (purified - x).detach()
            seen = torch.where(flagged[:, None, None, None], purified, x)
        same_path = self.flagged_classifier is self.classifier and not self.purify
        flagged_logits = class_logits if same_path else self.flagged_classifier(seen)  # unflagged: seen is x
        logits = torch.where(flagged[:, None], flagged_logits, class_logits)
        return torch.cat([logits, margin[:, None]], 1)


class Logits(torch.nn.Module):
    """Only the class logits of a Defended model, for attacks (torchattacks) that expect a classifier."""

    def __init__(self, defended):
        super().__init__()
        self.defended = defended

    def forward(self, x):
        return self.defended(x)[:, :NUM_CLASSES]


def evading(weight):
    """A loss to misclassify and stay under the detector's threshold (Carlini & Wagner, 2017, against MagNet)."""
    def loss(outputs, labels):
        return cross_entropy(outputs[:, :NUM_CLASSES], labels) - weight * F.relu(outputs[:, NUM_CLASSES] + EVADE_SLACK)
    return loss


evade_loss = evading(EVADE_WEIGHT)


def label_loss(outputs, labels):
    """The final label only: an attack that ignores the detector."""
    return cross_entropy(outputs[:, :NUM_CLASSES], labels)
