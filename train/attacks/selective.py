"""Selective attack: fool the classifier first, then, keeping the label wrong, slip under the detector.

Carlini & Wagner, "Adversarial Examples Are Not Easily Detected: Bypassing Ten Detection Methods",
AISec 2017: a detector that does not see the attacker's loss is evaded once the loss includes it.
Tramèr, Carlini, Brendel & Madry, "On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020:
an adaptive attack should optimise exactly the defence's success criterion, with hinges at its
thresholds, rather than a soft loss that stops pulling before the threshold is crossed.
"""
import math

import torch
import torch.nn.functional as F

from .base import Attack


def _margin(logits, labels):
    """Per image: the labelled class's logit minus the best other one (< 0 means that class is not chosen)."""
    own = logits.gather(1, labels[:, None])[:, 0]
    return own - logits.scatter(1, labels[:, None], -float("inf")).amax(1)


class Selective(Attack):
    """L∞ attack on a defended model whose output is [N, 11]: 10 class logits, then the detector's margin
    over its threshold in logit units (>= 0 means flagged), as `evaluate.Defended` returns.

    The runtime's promise is "a right label, or a flag", so the attack wins an image when its label is
    wrong AND it is not flagged. Per signed-gradient step, per image:
      - label still right: raise the best wrong logit over the true one (the CW margin), or, when
        targeted, raise the target class over every other;
      - label wrong: lower the hinges max(0, detector margin + slack) and max(0, class margin + kappa),
        so the detector is pushed just under its threshold while the label stays wrong.
    Every iterate is scored and each image keeps its best one: wrong and unflagged first, then wrong,
    then the lowest max(class margin, detector margin). Runs `restarts` random starts, for the
    untargeted goal (targets=0) or for each of the `targets` most likely wrong classes of the clean image,
    then one run from each of `starts`.

    Args:
        model: images [N,1,28,28] in [0,1] -> [N, 11] as above.
        eps: L∞ budget; alpha: the first step's size, decayed along a cosine over `steps` steps per start.
        restarts: random starts per goal (0: only `starts`).
        targets: 0 for untargeted, k for the k most likely wrong classes.
        kappa, slack: how far (logits) past the class boundary and under the detector threshold to aim,
            so rounding in another runtime (ONNX) does not flip the outcome.
        starts: other attacks, called as `start(images, labels)`, whose outputs seed one untargeted run
            each: what fools the classifier best (e.g. AutoAttack on it) is where to evade the detector from.

    Shapes: images [N,1,28,28] in [0,1], labels [N] (true labels) -> adv [N,1,28,28], inside the ε-ball and [0,1].

    Example:
        >>> atk = Selective(Defended(models, policy, threshold), eps=0.3, steps=100, restarts=2, targets=3)
        >>> adv = atk(images, labels)
    """

    def __init__(self, model, eps, alpha=0.05, steps=100, restarts=2, targets=0, kappa=0.5, slack=0.5, starts=()):
        super().__init__(model, eps)
        self.alpha, self.steps, self.restarts, self.targets = float(alpha), int(steps), int(restarts), int(targets)
        self.kappa, self.slack, self.starts = float(kappa), float(slack), tuple(starts)

    def perturb(self, images, labels):
        best = _Best(images)
        for target in self._goals(images, labels):
            for _ in range(self.restarts):
                self._run(images + torch.empty_like(images).uniform_(-self.eps, self.eps), images, labels, target, best)
        for start in self.starts:
            self._run(start(images, labels).detach(), images, labels, None, best)
        return best.x

    def _run(self, x, images, labels, target, best):
        """`steps` steps from x, every iterate offered to `best`."""
        x = self.project(x, images)
        for step in range(self.steps + 1):
            grad = self._score_and_grad(x, labels, target, best, last=step == self.steps)
            if grad is not None:  # cosine-decayed steps: cross the boundaries early, settle inside them late
                alpha = self.alpha * (1 + math.cos(math.pi * step / self.steps)) / 2
                x = self.project(x + alpha * grad.sign(), images)

    def _goals(self, images, labels):
        """None (untargeted), or one [N] tensor of target classes per rank among the wrong classes."""
        if not self.targets:
            return [None]
        with torch.no_grad():
            logits = self.model(images)[:, :10].scatter(1, labels[:, None], -float("inf"))
        return list(logits.topk(self.targets, 1).indices.T)

    def _score_and_grad(self, x, labels, target, best, last):
        """Offer x to `best`; the gradient of this step's objective (None on the last iterate)."""
        with torch.enable_grad():
            x = x.clone().requires_grad_(not last)
            out = self.model(x)
            class_margin, detector_margin = _margin(out[:, :10], labels), out[:, 10]
            best.offer(x.detach(), class_margin.detach(), detector_margin.detach())
            if last:
                return None
            wrong = class_margin < 0
            fool = -class_margin if target is None else _margin(out[:, :10], target)
            evade = -F.relu(detector_margin + self.slack) - F.relu(class_margin + self.kappa)
            (grad,) = torch.autograd.grad(torch.where(wrong, evade, fool).sum(), x)
        return grad


class _Best:
    """Per image, the best iterate so far: wrong and unflagged, then wrong, then the lowest
    max(class margin, detector margin) (how far inside the winning region it sits)."""

    def __init__(self, images):
        self.x = images.clone()
        self.rank = torch.full((len(images),), -1, device=images.device)
        self.badness = torch.full((len(images),), float("inf"), device=images.device)

    def offer(self, x, class_margin, detector_margin):
        wrong = class_margin < 0
        rank = wrong.long() + (wrong & (detector_margin < 0)).long()
        badness = torch.max(class_margin, detector_margin)
        better = (rank > self.rank) | ((rank == self.rank) & (badness < self.badness))
        self.x[better], self.rank[better], self.badness[better] = x[better], rank[better], badness[better]
