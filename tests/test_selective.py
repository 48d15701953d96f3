"""The selective attack (#13): it wins where a label-only PGD is caught, and stays inside the ε-ball and [0, 1]."""
import torch
from torch import nn

from digitguard.train.attacks import PGD, Selective
from digitguard.train.evaluate.threat import label_loss

EPS = 0.3


class ToyDefended(nn.Module):
    """A hand-made defended model with evaluate.Defended's output: [N, 11] = 10 class logits, detector margin.

    Class 1 beats the true class 0 once the mean of the top half of the image passes 0.55; the detector
    fires on a bright top half (the attack's trace) unless the bottom half is bright too. So raising the
    top half fools the classifier and gets flagged; raising the bottom half as well slips past the detector.
    """

    def forward(self, x):
        top, bottom = x[:, 0, :14].mean((1, 2)), x[:, 0, 14:].mean((1, 2))
        logits = torch.full((len(x), 10), -10.0)
        logits[:, 0], logits[:, 1] = 0.0, 10 * (top - 0.55)
        return torch.cat([logits, (10 * (top - 0.5) - 10 * (bottom - 0.5))[:, None]], 1)


def toy_images(n=16):
    """Clean: top half 0.4, bottom half 0.5: read as class 0 and not flagged (margin -1)."""
    x = torch.full((n, 1, 28, 28), 0.5)
    x[:, :, :14] = 0.4
    return x, torch.zeros(n, dtype=torch.long)


def silently_wrong(model, adv, labels):
    with torch.no_grad():
        out = model(adv)
    return (out[:, :10].argmax(1) != labels) & (out[:, 10] < 0)


def test_selective_wins_where_label_only_pgd_is_flagged():
    torch.manual_seed(0)
    model, (x, y) = ToyDefended(), toy_images()
    assert not silently_wrong(model, x, y).any()
    plain = PGD(model, EPS, alpha=0.02, steps=40, loss=label_loss)(x, y)
    assert not silently_wrong(model, plain, y).any()  # every label is wrong, and every image flagged
    assert silently_wrong(model, Selective(model, EPS, steps=40)(x, y), y).all()


def test_targeted_variant_wins_too():
    torch.manual_seed(0)
    model, (x, y) = ToyDefended(), toy_images()
    assert silently_wrong(model, Selective(model, EPS, steps=40, restarts=1, targets=3)(x, y), y).all()


def test_evades_from_another_attacks_output():
    torch.manual_seed(0)
    model, (x, y) = ToyDefended(), toy_images()
    caught = PGD(model, EPS, alpha=0.02, steps=40, loss=label_loss)
    adv = Selective(model, EPS, steps=40, restarts=0, starts=[caught])(x, y)
    assert silently_wrong(model, adv, y).all()


def test_stays_in_the_eps_ball_and_pixel_range():
    torch.manual_seed(0)
    model = ToyDefended()
    x = torch.rand(16, 1, 28, 28).round()  # pixels at 0 and 1: the clamp to [0, 1] must bite
    x[:, :, 10:18] = torch.rand(16, 1, 8, 28)
    adv = Selective(model, EPS, alpha=0.1, steps=10, restarts=2, targets=2)(x, torch.zeros(16, dtype=torch.long))
    assert (adv - x).abs().max() <= EPS + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not torch.equal(adv, x)
