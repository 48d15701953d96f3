"""What every attack shares: eval mode while crafting, per-example losses, inputs kept in [0,1]."""
import torch
import torch.nn.functional as F


def cross_entropy(outputs, labels):
    """Per-example cross-entropy, the default loss an attack pushes up."""
    return F.cross_entropy(outputs, labels, reduction="none")


class Attack:
    """Base class: `adv = attack(images, labels)` with images [N,1,H,W] in [0,1], labels [N].

    `loss(outputs, labels) -> [N]` is the quantity raised (or, when `targeted`, lowered toward
    `labels`); pass your own to attack a composed model (e.g. an adaptive loss that also evades a detector).
    """

    def __init__(self, model, eps, loss=cross_entropy, targeted=False):
        self.model, self.eps, self.loss, self.targeted = model, float(eps), loss, targeted

    def __call__(self, images, labels):
        was_training = self.model.training
        self.model.eval()  # dropout/batch-norm must not change while the attacker probes the model
        try:
            return self.perturb(images.detach(), labels.detach()).detach()
        finally:
            self.model.train(was_training)

    def perturb(self, images, labels):
        raise NotImplementedError

    def losses_and_grad(self, x, labels):
        """Per-example objective (higher = better for the attacker) and its gradient w.r.t. x."""
        with torch.enable_grad():  # callers may sit inside torch.no_grad(); the attack needs gradients anyway
            x = x.clone().requires_grad_(True)
            losses = self.loss(self.model(x), labels)
            if self.targeted:
                losses = -losses
            (grad,) = torch.autograd.grad(losses.sum(), x)
        return losses.detach(), grad

    def project(self, x, images):
        """Back into the ε-ball around the originals and into the valid pixel range."""
        return torch.min(torch.max(x, images - self.eps), images + self.eps).clamp(0.0, 1.0)
