"""L∞ attacks with one uniform call: `adv = Attack(model, eps, ...)(images, labels)`."""
from .autoattack import AUTOATTACKS
from .base import Attack, cross_entropy
from .fgsm import FGSM
from .pgd import PGD

__all__ = ["AUTOATTACKS", "Attack", "FGSM", "PGD", "cross_entropy"]
