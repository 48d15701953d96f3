"""How the evaluation counts: the success rule, table rows of runtime answers, ROC and detection rates."""
import numpy as np


def attack_succeeded(labels, flagged, truth):
    """Per image: the final label is wrong and the defence did not catch it. Rejected labels are -1."""
    return (labels != truth) & ~flagged


def pipeline_row(labels, flagged, truth, **fields):
    """A table row for what the runtime answered on one crafted set. `robust` is counted as a share, like
    `accuracy` (1 - the success rate gave 0.44999... beside an accuracy of 0.45 on the same images)."""
    return {**fields, "n": len(truth), "accuracy": float((labels == truth).mean()),
            "robust": float((~attack_succeeded(labels, flagged, truth)).mean()), "flagged": float(flagged.mean())}


def roc(clean_scores, attacked_scores):
    """(fpr, tpr, auroc) with attacked images as positives; ties handled by sorting on unique thresholds."""
    scores = np.concatenate([clean_scores, attacked_scores])
    positive = np.concatenate([np.zeros(len(clean_scores)), np.ones(len(attacked_scores))])
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tpr = np.r_[0, np.cumsum(positive)[last_of_tie] / positive.sum()]
    fpr = np.r_[0, np.cumsum(1 - positive)[last_of_tie] / (1 - positive).sum()]
    auroc = (np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0).sum()  # the trapezoid rule, as np.trapezoid (NumPy 2 only)
    return fpr, tpr, float(auroc)


def tpr_at(clean_scores, attacked_scores, fpr):
    """Detection rate when the threshold lets through `fpr` of these clean images."""
    threshold = np.quantile(clean_scores, 1 - fpr)
    return float((attacked_scores >= threshold).mean())
