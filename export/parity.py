"""ONNX Runtime against a reference on the same images: the figures that decide whether an export ships."""
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from digitguard.runtime.contract import INPUT_NAME, LOGITS_NAME, PROBS_NAME, PURIFIED_NAME, SCORE_NAME
from digitguard.runtime.sessions import adversarial_score, softmax
from digitguard.train.batched import chunks

from .onnx_export import ExportError

# Largest tolerated |ONNX - reference| per float output; discrete outputs (label, flagged, argmax) must agree exactly.
TOLERANCE = {LOGITS_NAME: 1e-4, PROBS_NAME: 1e-4, SCORE_NAME: 1e-4, PURIFIED_NAME: 1e-5}


class ParityError(RuntimeError):
    """Some model's ONNX outputs differ from the reference beyond tolerance."""


def load_session(path):
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types are not public API
        raise ExportError(f"{Path(path).name}: ONNX Runtime cannot load it ({e})") from e


def outputs_of(session, images, batch=1000, desc=None):
    """All outputs of an ONNX session over `images` (numpy float32 [N,1,28,28]), by name."""
    names = [o.name for o in session.get_outputs()]
    parts = [session.run(names, {INPUT_NAME: part})
             for part in tqdm(chunks(images, batch), desc=desc, leave=False, disable=desc is None)]
    return {n: np.concatenate([part[k] for part in parts]) for k, n in enumerate(names)}


def adversarial_scores(detector, images, desc=None):
    """A detector session's [N] probability of the adversarial class, as the runtime computes it."""
    return adversarial_score(outputs_of(detector, images, desc=desc)[LOGITS_NAME])


def composed(sessions, images, threshold, classifier, flagged_classifier, purify):
    """The pipeline computed from the single-model sessions with numpy: what pipeline.onnx must reproduce."""
    score = adversarial_scores(sessions["detector"], images)
    flagged = score >= np.float32(threshold)
    purified = images
    if purify:
        denoised = outputs_of(sessions["purifier"], images)[PURIFIED_NAME]
        purified = np.where(flagged[:, None, None, None], denoised, images)
    logits = np.where(flagged[:, None], outputs_of(sessions[flagged_classifier], purified)[LOGITS_NAME],
                      outputs_of(sessions[classifier], purified)[LOGITS_NAME])
    probs = softmax(logits)
    return {"label": probs.argmax(1), PROBS_NAME: probs, SCORE_NAME: score, "flagged": flagged,
            PURIFIED_NAME: purified}


def screened(sessions, images, classifier):
    """screen.onnx's outputs computed from the detector's and the classifier's own sessions."""
    return {PROBS_NAME: softmax(outputs_of(sessions[classifier], images)[LOGITS_NAME]),
            SCORE_NAME: adversarial_scores(sessions["detector"], images)}


def compare(model, reference, got):
    """(manifest parity record, breaches) for one model; a breach is (model, quantity, value, limit)."""
    diffs = {k: float(np.abs(reference[k] - got[k]).max()) for k in reference if reference[k].dtype.kind == "f"}
    agree = {k: float((reference[k] == got[k]).mean()) for k in reference if reference[k].dtype.kind != "f"}
    for k in (LOGITS_NAME, PROBS_NAME):
        if k in reference:
            agree[f"argmax {k}"] = float((reference[k].argmax(1) == got[k].argmax(1)).mean())
    breaches = [(model, f"max |diff| {k}", v, TOLERANCE[k]) for k, v in diffs.items() if not v <= TOLERANCE[k]]
    breaches += [(model, f"agreement {k}", v, 1.0) for k, v in agree.items() if v < 1.0]
    main = next(k for k in reference if k in diffs)  # logits, purified, or the pipeline's probs
    argmax = agree.get(f"argmax {main}")  # None for the purifier: its output is an image, not a class score
    record = {"images": len(next(iter(reference.values()))), "max_abs_diff": diffs[main], "argmax_agreement": argmax}
    return record, breaches


def breach_table(breaches):
    """The printed report of a failed parity check."""
    rows = [f"{'model':<12} {'check':<28} {'value':>12} {'limit':>12}"]
    rows += [f"{m:<12} {q:<28} {v:>12.3g} {lim:>12.3g}" for m, q, v, lim in breaches]
    return "\n".join(rows)
