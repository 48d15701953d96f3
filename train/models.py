"""The four networks. Every one maps the contract's image batch [N,1,28,28] in [0,1] to its output."""
import torch
from torch import nn

from digitguard.runtime.contract import ADVERSARIAL_INDEX


class SmallCNN(nn.Module):
    """conv -> pool -> conv -> pool -> FC: the baseline classifier."""

    def __init__(self, num_outputs=10, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, num_outputs)
        )

    def forward(self, x):
        return self.head(self.features(x))


ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}  # SiLU: smooth, so adversarial training's gradients are too


class StridedCNN(nn.Module):
    """conv 4x4/2 -> conv 4x4/2 -> FC (28 -> 13 -> 5): the mitigation classifier and the detector.

    The TRADES/Madry MNIST family: strided convolutions and no pooling keep the gradient informative
    for the attacker (no masking), and with no padding the second conv works on 5x5, so a width-32
    classifier costs about what the ONNX zoo's MNIST model does; the runtime runs it on every image.
    """

    def __init__(self, num_outputs=10, width=32, hidden=100, activation="relu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2), act(),
            nn.Conv2d(width, 2 * width, 4, stride=2), act(),
            nn.Flatten(), nn.Linear(2 * width * 5 * 5, hidden), act(), nn.Linear(hidden, num_outputs),
        )

    def forward(self, x):
        return self.net(x)


class TradesCNN(nn.Module):
    """TRADES' MNIST model (Zhang et al. 2019): conv 3x3 32-32 -> pool -> 64-64 -> pool -> FC 200-200 -> 10.

    28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4, unpadded; about 10 M multiply-adds, ten times the strided CNN.
    `width` scales the convolutions (32 is the paper's), `hidden` the two FC layers.
    """

    def __init__(self, width=32, hidden=200, activation="relu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3), act(), nn.Conv2d(width, width, 3), act(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3), act(), nn.Conv2d(2 * width, 2 * width, 3), act(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 4 * 4, hidden), act(), nn.Linear(hidden, hidden), act(),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return self.net(x)


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        same = stride == 1 and cin == cout
        self.skip = nn.Identity() if same else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class SmallResNet(nn.Module):
    """A three-stage residual network (28 -> 14 -> 7), the alternative mitigation architecture."""

    def __init__(self, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            _Block(width, width, 1), _Block(width, 2 * width, 2), _Block(2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 10),
        )

    def forward(self, x):
        return self.net(x)


class Purifier(nn.Module):
    """Convolutional denoising autoencoder: attacked image -> estimate of the clean image, output in [0,1]."""

    def __init__(self, width=32):
        super().__init__()
        # Batch norm after every layer: without it the activations blow up early in training and the
        # sigmoid saturates into an all-black output that never recovers (seen on the quick profile).
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),  # 14x14
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),  # 7x7
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 28x28
            nn.Conv2d(width, 1, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


MITIGATION_ARCHS = ("cnn", "trades-cnn", "resnet")


def build(name: str, arch: str = "", width: int = 0, hidden: int = 0, activation: str = "relu") -> nn.Module:
    """The network for a model name; `arch`, `width`, `hidden` (FC size) and `activation` choose the mitigation
    architecture (saved in each checkpoint's config; `hidden` 0 is the architecture's default)."""
    if name == "baseline":
        return SmallCNN(10, width or 32)
    if name == "detector":  # ε-sized noise is easy to see: a width-8 net detects it and costs little per image
        return StridedCNN(2, width or 8, hidden=32)
    if name == "purifier":
        return Purifier(width or 32)
    if name == "mitigation":
        if arch == "resnet":
            return SmallResNet(width or 16)
        if arch == "trades-cnn":
            return TradesCNN(width or 32, hidden or 200, activation)
        return StridedCNN(10, width or 32, hidden or 100, activation)
    raise ValueError(f"unknown model {name!r}")


def adversarial_score(detector_logits: torch.Tensor) -> torch.Tensor:
    """[N] softmax probability of the adversarial class, as the runtime computes it from the detector's logits."""
    return detector_logits.softmax(1)[:, ADVERSARIAL_INDEX]
