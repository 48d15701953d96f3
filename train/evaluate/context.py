"""What every report section reads: the test images, the shipped runtime, the checkpoints, the options, the attacks made."""
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from digitguard.runtime import Pipeline
from digitguard.runtime.contract import CLASSIFIERS, IMAGE_SIZE, MODEL_NAMES
from digitguard.runtime.manifest import Manifest
from digitguard.runtime.sessions import Classifier, Detector, Purifier, providers_for

from .. import checkpoint, flag
from ..batched import attack_all, chunks
from ..data import load_splits

PARITY_IMAGES = 64  # test images on which each checkpoint must reproduce its ONNX file
PARITY_LIMIT = 1e-3  # largest |PyTorch - ONNX| output accepted as the same weights
RUNTIME_BATCH = 1000


class EvaluationError(RuntimeError):
    """The evaluation cannot run: missing checkpoints, or checkpoints that are not the artifacts' weights."""


class ShippedRuntime:
    """The shipped ONNX models and pipeline, counting what an attack achieved."""

    def __init__(self, artifacts):
        self.manifest = Manifest.load(artifacts)
        self.pipeline = Pipeline.load(artifacts)  # the manifest's policy: what ships
        providers = providers_for("cpu")
        self.classifiers = {name: Classifier(self.manifest.verify(name), providers) for name in CLASSIFIERS}
        self.detector = Detector(self.manifest.verify("detector"), providers)
        self.purifier = Purifier(self.manifest.verify("purifier"), providers)

    @property
    def threshold(self):
        return self.manifest.threshold

    def classify(self, name, images):
        return np.concatenate([self.classifiers[name].probs(part) for part in _parts(images)]).argmax(1)

    def scores(self, images):
        return np.concatenate([self.detector.score(part) for part in _parts(images)])

    def purify(self, images):
        return np.concatenate([self.purifier.purify(part) for part in _parts(images)])

    def onnx_session(self, name):
        """The runtime's session for one of the four models."""
        return {"detector": self.detector, "purifier": self.purifier, **self.classifiers}[name]

    def defend(self, images):
        return outcomes(self.pipeline, images)


def outcomes(pipeline, images):
    """(labels with -1 for rejected or refused, flagged) from the runtime's own predict(), each image its own item.

    An attack can move a digit's black border far enough that the preprocessing refuses the image ("no digit
    found"): the user gets that error, not a label, so it counts as caught (flagged, label -1), and the other
    images keep their results.
    """
    results = pipeline.predict(list(np.asarray(images).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)))
    return (np.array([-1 if r.label is None else r.label for r in results]),
            np.array([not r.ok or r.flagged for r in results]))


def _parts(images):
    return chunks(np.ascontiguousarray(images, dtype=np.float32), RUNTIME_BATCH)


def craft(attack, x, y, desc, device="cpu", batch=250):
    """An attack over a set, in batches with a progress bar; numpy float32 out."""
    return attack_all(attack, x, y, device, batch=batch, desc=desc).detach().numpy()


def load_torch_models(checkpoints, runtime, images):
    """The four checkpoints, after proving they are the weights the ONNX files were made from.

    "detector" is the shipped flag (train/flag.py) over the detector and mitigation checkpoints, as detector.onnx is.
    """
    try:
        models = {name: checkpoint.load(checkpoints, name)[0] for name in MODEL_NAMES}
        models["detector"], _ = flag.load(checkpoints, models["detector"], models[flag.CLASSIFIER])
    except FileNotFoundError as e:
        raise EvaluationError(f"{e}; pass --checkpoints with the checkpoints the artifacts were exported from") from e
    probe = images[:PARITY_IMAGES]
    for name, model in models.items():
        with torch.no_grad():
            ours = model(probe).numpy()
        theirs = runtime.onnx_session(name).run(probe.numpy())[0]
        difference = np.abs(ours - theirs).max()
        if difference > PARITY_LIMIT:
            raise EvaluationError(f"{checkpoints}/{name} is not the model in the artifacts (max |Δ| {difference:.2g}); "
                                  "pass the checkpoints they were exported from")
    return models


@dataclass
class Context:
    """The inputs of every report section, and the attacked sets the sections share."""

    args: object  # the parsed command line
    runtime: ShippedRuntime
    models: dict  # name -> PyTorch checkpoint, for gradients
    x: torch.Tensor  # the attacked test images [n, 1, 28, 28]
    y: torch.Tensor  # their labels
    clean_images: np.ndarray  # the test images for clean figures [n_clean, 1, 28, 28]
    clean_truth: np.ndarray
    crafted: dict = field(default_factory=dict)  # (target, attack, ε) -> adversarial images, made by the sweep
    curves: dict = field(default_factory=dict)  # "attack vs target" -> (fpr, tpr, auroc) at ε = EPS, for the ROC plot

    @property
    def truth(self):
        return self.y.numpy()

    @property
    def policy(self):
        return self.runtime.pipeline.policy

    @classmethod
    def create(cls, args):
        torch.manual_seed(args.seed)
        test_x, test_y = load_splits(args.data_dir)["test"]
        n_clean, n = min(args.n_clean, len(test_x)), min(args.n, len(test_x))
        runtime = ShippedRuntime(args.artifacts)
        models = load_torch_models(args.checkpoints, runtime, test_x)
        return cls(args, runtime, models, test_x[:n], test_y[:n], test_x[:n_clean].numpy(), test_y[:n_clean].numpy())

    def header(self):
        """The report's first fields: what was evaluated, and how much."""
        return {"artifacts": str(self.args.artifacts), "policy": dataclasses.asdict(self.policy),
                "threshold": self.runtime.threshold, "n_clean": len(self.clean_truth), "n_attack": len(self.x),
                "seed": self.args.seed}
