"""FGSM: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015."""
from .base import Attack


class FGSM(Attack):
    """One signed-gradient step of size ε (L∞).

    Shapes: images [N,1,28,28] in [0,1], labels [N] (targets when targeted=True) -> adv [N,1,28,28].

    Example:
        >>> atk = FGSM(model, eps=0.3)
        >>> adv = atk(images, labels)
    """

    def perturb(self, images, labels):
        _, grad = self.losses_and_grad(images, labels)
        return self.project(images + self.eps * grad.sign(), images)
