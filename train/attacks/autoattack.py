"""AutoAttack (Croce & Hein 2020, standard version: APGD-CE, APGD-T, FAB-T, Square) from two implementations
we did not write, with the attacks' common call: `adv = AUTOATTACKS[name](model, seed)(images, labels)`.

torchattacks re-implements it; pyautoattack is the authors' reference code packaged on PyPI. Each can miss
what the other finds, so a robustness figure is stated as the lower of the two.
"""
import torchattacks
from pyautoattack import AutoAttack

from digitguard.runtime.contract import EPS


class ReferenceAutoAttack:
    """pyautoattack's AutoAttack as `attack(images, labels) -> adv` (it attacks only what is still robust)."""

    def __init__(self, model, seed=0, eps=EPS):
        self.model = model
        device = next(model.parameters()).device
        self.attack = AutoAttack(model, eps=eps, norm="Linf", version="standard", seed=seed, device=device)

    def __call__(self, images, labels):
        self.model.eval()
        adv, _ = self.attack.run_standard_evaluation(images, labels, batch_size=250)
        return adv.detach()


def torchattacks_autoattack(model, seed=0, eps=EPS):
    return torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=seed)


AUTOATTACKS = {"torchattacks": torchattacks_autoattack, "pyautoattack": ReferenceAutoAttack}
