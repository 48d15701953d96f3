"""FGSM and PGD: budget, pixel range, strength ordering and a known answer."""
import pytest
import torch
from torch import nn

from digitguard.runtime.contract import EPS
from digitguard.train import checkpoint
from digitguard.train.attacks import FGSM, PGD, cross_entropy
from digitguard.train.data import load_splits


class Linear2(nn.Module):
    """logits = [0, w·x]: for label 0 the loss rises with w·x, so the best L∞ attack is x + ε·sign(w), clipped."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.flatten())

    def forward(self, x):
        score = x.flatten(1) @ self.w
        return torch.stack([torch.zeros_like(score), score], 1)


@pytest.fixture
def linear_case():
    torch.manual_seed(0)
    w = torch.randn(1, 1, 28, 28)
    x = torch.rand(8, 1, 28, 28)
    expected = (x + EPS * w.sign()).clamp(0, 1).clamp(x - EPS, x + EPS)
    return Linear2(w), x, torch.zeros(8, dtype=torch.long), expected


def test_fgsm_known_answer(linear_case):
    model, x, y, expected = linear_case
    assert torch.allclose(FGSM(model, EPS)(x, y), expected, atol=1e-6)


def test_pgd_known_answer_from_random_start(linear_case):
    model, x, y, expected = linear_case
    assert torch.allclose(PGD(model, EPS, alpha=0.05, steps=20)(x, y), expected, atol=1e-6)


def test_targeted_known_answer(linear_case):
    model, x, _, _ = linear_case
    target = torch.zeros(8, dtype=torch.long)  # class 0 wins as w·x falls: the step goes against sign(w)
    expected = (x - EPS * model.w.detach().view(1, 1, 28, 28).sign()).clamp(0, 1)
    assert torch.allclose(FGSM(model, EPS, targeted=True)(x, target), expected, atol=1e-6)


@pytest.fixture(scope="module")
def trained(quick_checkpoints):
    model, _ = checkpoint.load(quick_checkpoints, "baseline")
    x, y = load_splits(train_size=1, test_size=200)["test"]
    return model, x, y


@pytest.mark.slow
@pytest.mark.parametrize("attack", [lambda m: FGSM(m, EPS), lambda m: PGD(m, EPS, 0.01, 40, restarts=2)])
def test_budget_and_range(trained, attack):
    model, x, y = trained
    adv = attack(model)(x, y)
    assert (adv - x).abs().max() <= EPS + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not model.training


@pytest.mark.slow
def test_pgd_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    with torch.no_grad():
        fgsm_loss = cross_entropy(model(FGSM(model, EPS)(x, y)), y).mean()
        pgd_loss = cross_entropy(model(PGD(model, EPS, 0.01, 40)(x, y)), y).mean()
        clean_loss = cross_entropy(model(x), y).mean()
    assert pgd_loss >= fgsm_loss > clean_loss


def test_attack_restores_training_mode(linear_case):
    model, x, y, _ = linear_case
    model.train()
    PGD(model, EPS, 0.05, 2)(x, y)
    assert model.training
