"""Models and attacks run over whole sets in batches: the helpers training, compare, export and evaluate share."""
import sys

import torch
from tqdm import tqdm

from digitguard.runtime.contract import EPS

from .attacks import PGD
from .models import adversarial_score


def require_device(device):
    """Exit with one clear line, not torch's traceback, when `--device cuda` finds no CUDA device."""
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda asked for, but torch sees no CUDA device")


def chunks(items, size):
    """`items` (a tensor or an array) as consecutive slices of at most `size`: the one batching loop."""
    return [items[i:i + size] for i in range(0, len(items), size)]


@torch.no_grad()
def predict(model, images, device, batch=1000):
    model.eval()
    return torch.cat([model(part.to(device)).cpu() for part in chunks(images, batch)])


def accuracy(model, images, labels, device):
    return (predict(model, images, device).argmax(1) == labels).float().mean().item()


def adversarial_scores(detector, images, device):
    """[N] numpy adversarial scores of a PyTorch detector over a whole set."""
    return adversarial_score(predict(detector, images, device)).numpy()


def attack_all(attack, images, labels, device, batch=500, desc="attack"):
    """Run an attack over a whole set in batches (with a progress bar); adversarial images on the CPU."""
    parts = tqdm(list(zip(chunks(images, batch), chunks(labels, batch))), desc=desc, leave=False)
    return torch.cat([attack(x.to(device), y.to(device)).cpu() for x, y in parts])


def pgd_eval(model, eps=EPS):
    """The attack the training targets are stated with: PGD-40, step 0.01, random start."""
    return PGD(model, eps, alpha=0.01, steps=40, restarts=1)
