"""PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018."""
import torch

from .base import Attack, cross_entropy


class PGD(Attack):
    """Projected gradient ascent in the L∞ ε-ball from a uniform random start, with restarts.

    Each restart runs `steps` signed-gradient steps of size `alpha`; per example the restart
    with the highest final loss is kept.

    Shapes: images [N,1,28,28] in [0,1], labels [N] (targets when targeted=True) -> adv [N,1,28,28].

    Example:
        >>> atk = PGD(model, eps=0.3, alpha=0.01, steps=40, restarts=1)
        >>> adv = atk(images, labels)
    """

    def __init__(self, model, eps, alpha=0.01, steps=40, restarts=1, random_start=True, loss=cross_entropy,
                 targeted=False):
        super().__init__(model, eps, loss, targeted)
        self.alpha, self.steps, self.restarts, self.random_start = float(alpha), int(steps), int(restarts), random_start

    def perturb(self, images, labels):
        best = images.clone()
        best_loss = torch.full((len(images),), -float("inf"), device=images.device)
        for _ in range(max(1, self.restarts)):
            x = images
            if self.random_start:
                x = self.project(images + torch.empty_like(images).uniform_(-self.eps, self.eps), images)
            for _ in range(self.steps):
                _, grad = self.losses_and_grad(x, labels)
                x = self.project(x + self.alpha * grad.sign(), images)
            with torch.no_grad():
                final = self.loss(self.model(x), labels)
                final = -final if self.targeted else final
            better = final > best_loss
            best[better], best_loss[better] = x[better], final[better]
        return best
