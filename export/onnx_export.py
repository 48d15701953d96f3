"""PyTorch modules -> ONNX files with the contract's I/O names and a dynamic batch axis, checked on the way out."""
from pathlib import Path

import onnx
import torch
from torch import nn

from digitguard.runtime.contract import (IMAGE_SIZE, INPUT_NAME, LOGITS_NAME, PROBS_NAME, PURIFIED_NAME, SCORE_NAME,
                                         SCREEN_OUTPUTS)
from digitguard.train.models import adversarial_score

OPSET = 17
OUTPUTS = {"pipeline": ("label", PROBS_NAME, SCORE_NAME, "flagged", PURIFIED_NAME), "screen": SCREEN_OUTPUTS,
           "purifier": (PURIFIED_NAME,)}  # every other model: its logits


class ExportError(RuntimeError):
    """An ONNX file is unreadable, fails the checker or shape inference, or breaks parity."""


def output_names(name):
    return list(OUTPUTS.get(name, (LOGITS_NAME,)))


class FusedPipeline(nn.Module):
    """pipeline.onnx: detect -> purify the flagged images -> classify, fused so the runtime can run the whole path in one session.

    `purified` is the image the classifier saw: the purifier's output where flagged (when `purify`),
    the input elsewhere.
    """

    def __init__(self, models, threshold, classifier="mitigation", flagged_classifier="mitigation", purify=True):
        super().__init__()
        self.detector, self.purifier = models["detector"], models["purifier"] if purify else None
        self.classifier, self.flagged_classifier = models[classifier], models[flagged_classifier]
        self.register_buffer("threshold", torch.tensor(threshold, dtype=torch.float32))

    def forward(self, image):
        score = adversarial_score(self.detector(image))
        flagged = score >= self.threshold
        purified = image if self.purifier is None else torch.where(flagged[:, None, None, None], self.purifier(image), image)
        logits = self.classifier(purified)
        if self.flagged_classifier is not self.classifier:  # one classifier run when the policy uses one model
            logits = torch.where(flagged[:, None], self.flagged_classifier(purified), logits)
        probs = logits.softmax(1)
        return probs.argmax(1), probs, score, flagged, purified


class FusedScreen(nn.Module):
    """The flag's score and the unflagged-path classifier's probabilities in one graph (screen.onnx).

    Every image pays for these; fused, the runtime makes one onnxruntime call per batch instead of two, and
    each call has a fixed cost about a third of the zoo MNIST model's whole latency. `flag` is train/flag.py's
    Flag; when it reads the same classifier, that classifier runs once for both outputs.
    """

    def __init__(self, flag, classifier):
        super().__init__()
        self.flag, self.classifier = flag, classifier

    def forward(self, image):
        class_logits = self.classifier(image)
        if self.flag.classifier is self.classifier:
            flag_logits = self.flag.logits(self.flag.detector(image), class_logits)
        else:
            flag_logits = self.flag(image)
        return adversarial_score(flag_logits), class_logits.softmax(1)


def export(module, path, name):
    """Write `module` as ONNX (TorchScript exporter: deterministic and offline) and check the file."""
    outputs = output_names(name)
    dummy = torch.rand(2, 1, IMAGE_SIZE, IMAGE_SIZE)  # batch 2, so no size-1 batch gets baked into the graph
    torch.onnx.export(module.eval(), (dummy,), str(path), input_names=[INPUT_NAME], output_names=outputs,
                      dynamic_axes={n: {0: "N"} for n in [INPUT_NAME, *outputs]}, opset_version=OPSET, dynamo=False)
    return check(path)


def check(path):
    """Load `path`, run the full checker and strict shape inference; any failure becomes one clear ExportError."""
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # protobuf, checker and inference errors all mean the same: do not ship this file
        raise ExportError(f"{Path(path).name} is not a valid ONNX model ({type(e).__name__}: {e})") from e
    return model


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def signature(model):
    """(opset, inputs, outputs) as the manifest records them, read back from the graph itself."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    initializers = {i.name for i in model.graph.initializer}
    inputs = {v.name: _dims(v) for v in model.graph.input if v.name not in initializers}
    return opset, inputs, {v.name: _dims(v) for v in model.graph.output}
