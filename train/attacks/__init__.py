"""L∞ attacks with one uniform call: `adv = Attack(model, eps, ...)(images, labels)`."""
from .autoattack import AUTOATTACKS
from .base import Attack, cross_entropy
from .fgsm import FGSM
from .pgd import PGD
from .selective import Selective

__all__ = ["AUTOATTACKS", "Attack", "FGSM", "PGD", "Selective", "cross_entropy"]
