"""Robustness of what ships, measured by attacks that know the whole defence.

    python -m digitguard.train.evaluate --artifacts artifacts/ --out artifacts/report/

Attacks are crafted with the gradients of the PyTorch checkpoints (the export proves their parity
with the ONNX files; this script re-checks it), and every success is counted by running the crafted
images through the runtime as it ships: same ONNX models, policy and detector threshold.

An attack on the pipeline succeeds on an image only when the final label is wrong AND the detector
did not flag it (under a reject policy, flagged means rejected). Tables also give plain label
accuracy, which counts a flagged-but-wrong answer as wrong.
"""
import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchattacks
from tqdm import tqdm

from digitguard.runtime import Pipeline, Policy
from digitguard.runtime.manifest import Manifest
from digitguard.runtime.sessions import Classifier, Detector, Purifier, providers_for

from . import checkpoint
from .attacks import FGSM, PGD, cross_entropy
from .data import load_splits

EPSILONS = (0.05, 0.1, 0.2, 0.3, 0.4)
EPS = 0.3
EVADE_WEIGHT = 10.0  # how hard the adaptive loss pushes the detector margin under the threshold
EVADE_SLACK = 1.0  # ... and how far under it (logit units), so the flag stays off after rounding


# --- the defended model as an attacker sees it -----------------------------------------------------------------

class Defended(torch.nn.Module):
    """The runtime's policy as one differentiable module: what an attacker who knows the defence differentiates.

    forward(x [N,1,28,28]) -> [N, 11]: the deciding classifier's logits, then the detector's margin over
    the shipped threshold in logit units (>= 0 means flagged). `bpda=True` replaces the purifier's
    gradient by the identity (Athalye et al., 2018), for when its own gradient is uninformative.
    """

    def __init__(self, models, policy, threshold, bpda=False):
        super().__init__()
        self.detector, self.purifier = models["detector"], models["purifier"]
        self.classifier = models[policy.classifier.split(".")[0]]
        self.flagged_classifier = models[policy.flagged_classifier.split(".")[0]]
        self.purify, self.bpda = policy.purify_flagged, bpda
        t = min(max(threshold, 1e-7), 1 - 1e-7)
        self.logit_threshold = math.log(t / (1 - t))  # softmax[:, 1] >= t  <=>  logit difference >= logit(t)

    def forward(self, x):
        det = self.detector(x)
        margin = det[:, 1] - det[:, 0] - self.logit_threshold
        flagged = (margin >= 0).detach()
        seen = x
        if self.purify:
            purified = self.purifier(x)
            if self.bpda:
                purified = x + (purified - x).detach()
            seen = torch.where(flagged[:, None, None, None], purified, x)
        logits = torch.where(flagged[:, None], self.flagged_classifier(seen), self.classifier(seen))
        return torch.cat([logits, margin[:, None]], 1)


class Logits(torch.nn.Module):
    """Only the class logits of a Defended model, for attacks (torchattacks) that expect a classifier."""

    def __init__(self, defended):
        super().__init__()
        self.defended = defended

    def forward(self, x):
        return self.defended(x)[:, :10]


def evading(weight):
    """A loss to misclassify and stay under the detector's threshold (Carlini & Wagner, 2017, against MagNet)."""
    def loss(outputs, labels):
        return cross_entropy(outputs[:, :10], labels) - weight * F.relu(outputs[:, 10] + EVADE_SLACK)
    return loss


evade_loss = evading(EVADE_WEIGHT)


def label_loss(outputs, labels):
    return cross_entropy(outputs[:, :10], labels)


# --- counting ------------------------------------------------------------------------------------------------

def attack_succeeded(labels, flagged, truth):
    """Per image: the final label is wrong and the defence did not catch it. Rejected labels are -1."""
    return (labels != truth) & ~flagged


def roc(clean_scores, attacked_scores):
    """(fpr, tpr, auroc) with attacked images as positives; ties handled by sorting on unique thresholds."""
    scores = np.concatenate([clean_scores, attacked_scores])
    positive = np.concatenate([np.zeros(len(clean_scores)), np.ones(len(attacked_scores))])
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tpr = np.r_[0, np.cumsum(positive)[last_of_tie] / positive.sum()]
    fpr = np.r_[0, np.cumsum(1 - positive)[last_of_tie] / (1 - positive).sum()]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def tpr_at(clean_scores, attacked_scores, fpr):
    """Detection rate when the threshold lets through `fpr` of these clean images."""
    threshold = np.quantile(clean_scores, 1 - fpr)
    return float((attacked_scores >= threshold).mean())


class Runtime:
    """The shipped ONNX models and pipeline, counting what an attack achieved."""

    def __init__(self, artifacts):
        self.manifest = Manifest.load(artifacts)
        self.pipeline = Pipeline.load(artifacts)  # the manifest's policy: what ships
        providers = providers_for("cpu")
        self.classifiers = {n: Classifier(self.manifest.verify(n), providers) for n in ("baseline", "mitigation")}
        self.detector = Detector(self.manifest.verify("detector"), providers)
        self.purifier = Purifier(self.manifest.verify("purifier"), providers)

    def classify(self, name, images):
        return np.concatenate([self.classifiers[name].probs(b) for b in _chunks(images)]).argmax(1)

    def scores(self, images):
        return np.concatenate([self.detector.score(b) for b in _chunks(images)])

    def purify(self, images):
        return np.concatenate([self.purifier.purify(b) for b in _chunks(images)])

    def defend(self, images):
        return outcomes(self.pipeline, images)


def outcomes(pipeline, images):
    """(labels with -1 for rejected, flagged) from the runtime's own predict()."""
    results = pipeline.predict(images)
    return np.array([-1 if r.label is None else r.label for r in results]), np.array([r.flagged for r in results])


def _chunks(images, size=1000):
    images = np.ascontiguousarray(images, dtype=np.float32)
    return [images[i:i + size] for i in range(0, len(images), size)]


def craft(attack, x, y, desc, batch=250):
    """An attack over a set, in batches with a progress bar; numpy float32 out."""
    out = [attack(x[i:i + batch], y[i:i + batch]) for i in tqdm(range(0, len(x), batch), desc=desc, leave=False)]
    return torch.cat(out).detach().numpy()


def load_torch_models(checkpoints, runtime, x):
    """The four checkpoints, after proving they are the weights the ONNX files were made from."""
    models = {}
    for name in ("baseline", "detector", "purifier", "mitigation"):
        try:
            model, _ = checkpoint.load(checkpoints, name)
        except FileNotFoundError as e:
            sys.exit(f"error: {e}; pass --checkpoints with the checkpoints the artifacts were exported from")
        with torch.no_grad():
            ours = model(x[:64]).numpy()
        session = runtime.purifier if name == "purifier" else runtime.detector if name == "detector" \
            else runtime.classifiers[name]
        theirs = session.run(x[:64].numpy())[0]
        if np.abs(ours - theirs).max() > 1e-3:
            sys.exit(f"error: {checkpoints}/{name} is not the model in the artifacts "
                     f"(max |Δ| {np.abs(ours - theirs).max():.2g}); pass the checkpoints they were exported from")
        models[name] = model.eval()
    return models


# --- the measurements ----------------------------------------------------------------------------------------

def evaluate(args):
    started = time.time()
    torch.manual_seed(args.seed)
    data = load_splits(args.data_dir)
    test_x, test_y = data["test"]
    n_clean, n = min(args.n_clean, len(test_x)), min(args.n, len(test_x))
    x, y = test_x[:n], test_y[:n]
    truth = y.numpy()
    rt = Runtime(args.artifacts)
    models = load_torch_models(args.checkpoints, rt, test_x)
    policy = rt.pipeline.policy
    report = {"artifacts": str(args.artifacts), "policy": dataclasses.asdict(policy),
              "threshold": rt.manifest.threshold, "n_clean": n_clean, "n_attack": n, "seed": args.seed}

    # 1. clean accuracy, all test images
    clean_np = test_x[:n_clean].numpy()
    clean_truth = test_y[:n_clean].numpy()
    labels, flagged = rt.defend(clean_np)
    clean_scores = rt.scores(clean_np)
    report["clean"] = {
        "baseline": float((rt.classify("baseline", clean_np) == clean_truth).mean()),
        "mitigation": float((rt.classify("mitigation", clean_np) == clean_truth).mean()),
        "pipeline": float((labels == clean_truth).mean()),
        "pipeline_flagged": float(flagged.mean()),
    }
    print("clean:", report["clean"])

    # 2. FGSM and PGD-40 across ε; the pipeline row is the adaptive attack through the whole defence
    defended = Defended(models, policy, rt.manifest.threshold)
    sweep, crafted = [], {}
    for eps in tqdm(args.epsilons, desc="ε sweep"):
        for attack_name in ("FGSM", "PGD-40"):
            def make(model, loss=cross_entropy):
                if attack_name == "FGSM":
                    return FGSM(model, eps, loss=loss)
                return PGD(model, eps, alpha=max(0.01, 2.5 * eps / 40), steps=40, restarts=args.restarts, loss=loss)

            for name in ("baseline", "mitigation"):
                adv = craft(make(models[name]), x, y, f"{attack_name} ε={eps} vs {name}")
                crafted[(name, attack_name, eps)] = adv
                acc = float((rt.classify(name, adv) == truth).mean())
                sweep.append({"model": name, "attack": attack_name, "eps": eps, "n": n, "accuracy": acc,
                              "robust": acc})
            adv = craft(make(defended, evade_loss), x, y, f"{attack_name} ε={eps} vs pipeline")
            crafted[("pipeline", attack_name, eps)] = adv
            sweep.append(_pipeline_row(*rt.defend(adv), truth, model="pipeline", attack=attack_name, eps=eps))
    report["sweep"] = sweep

    # 3. AutoAttack (torchattacks, standard: APGD-CE, APGD-T, FAB-T, Square), an implementation we did not write
    report["autoattack"] = []
    n_aa = min(args.n_autoattack, n)
    for name in ("baseline", "mitigation"):
        aa = torchattacks.AutoAttack(models[name], norm="Linf", eps=EPS, version="standard", n_classes=10,
                                     seed=args.seed)
        adv = craft(aa, x[:n_aa], y[:n_aa], f"AutoAttack vs {name}", batch=500)
        acc = float((rt.classify(name, adv) == truth[:n_aa]).mean())
        report["autoattack"].append({"model": name, "eps": EPS, "n": n_aa, "accuracy": acc})
        print(f"AutoAttack ε={EPS} {name}: {acc:.4f} (n={n_aa})")

    # 4. adaptive attacks on the pipeline at ε = 0.3; the worst case counts an image lost if any attack won it
    bpda = Defended(models, policy, rt.manifest.threshold, bpda=True)
    apgd = torchattacks.APGD(Logits(defended), norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="dlr",
                             seed=args.seed)
    attacks = {
        "end-to-end PGD-40 (classifier + detector-evasion loss, real gradients)": crafted[("pipeline", "PGD-40", EPS)],
        "end-to-end PGD-100, detector term weighted 1 (not 10)": craft(
            PGD(defended, EPS, 0.01, 100, restarts=args.restarts, loss=evading(1.0)), x, y, "PGD-100 weight 1"),
        "BPDA PGD-40 (identity through the purifier)": craft(
            PGD(bpda, EPS, 0.01, 40, restarts=args.restarts, loss=evade_loss), x, y, "BPDA PGD-40"),
        "PGD-100 on the final label only (ignores the detector)": craft(
            PGD(defended, EPS, 0.01, 100, loss=label_loss), x, y, "PGD-100 labels only"),
        "transfer: PGD-40 made on the baseline alone": crafted[("baseline", "PGD-40", EPS)],
        "transfer: PGD-40 made on the mitigation alone": crafted[("mitigation", "PGD-40", EPS)],
        "APGD-DLR (torchattacks), unseen in training": craft(apgd, x, y, "APGD-DLR vs pipeline"),
    }
    adaptive, lost, wrong = [], np.zeros(n, bool), np.zeros(n, bool)
    for name, adv in attacks.items():
        labels, flagged = rt.defend(adv)
        lost |= attack_succeeded(labels, flagged, truth)
        wrong |= labels != truth
        adaptive.append(_pipeline_row(labels, flagged, truth, attack=name, eps=EPS))
    adaptive.append({"attack": "worst case per image over all the attacks above", "eps": EPS, "n": n,
                     "accuracy": float(1 - wrong.mean()), "robust": float(1 - lost.mean()), "flagged": None})
    report["adaptive"] = adaptive
    for row in adaptive:
        print(f"adaptive: {row['attack']}: robust {row['robust']:.4f}, label accuracy {row['accuracy']:.4f}")

    # 5. detection: every crafted set against the clean test images
    detection, curves = [], {}
    for (target, attack_name, eps), adv in crafted.items():
        s = rt.scores(adv)
        fpr, tpr, auroc = roc(clean_scores, s)
        detection.append({"attack": attack_name, "against": target, "eps": eps, "n": len(adv), "auroc": auroc,
                          "tpr_at_1pct_fpr": tpr_at(clean_scores, s, 0.01),
                          "tpr_at_5pct_fpr": tpr_at(clean_scores, s, 0.05),
                          "tpr_at_shipped_threshold": float((s >= rt.manifest.threshold).mean())})
        if eps == EPS:
            curves[f"{attack_name} vs {target}"] = (fpr, tpr, auroc)
    report["detection"] = {"clean_fpr_at_shipped_threshold": float((clean_scores >= rt.manifest.threshold).mean()),
                           "n_clean": n_clean, "rows": detection}

    # 6. purification of attacks made against the baseline
    purification = []
    for eps in args.epsilons:
        adv = crafted[("baseline", "PGD-40", eps)]
        purified = rt.purify(adv)
        purification.append({"attack": "PGD-40 vs baseline", "eps": eps, "n": n,
                             "mse_attacked": float(((adv - x.numpy()) ** 2).mean()),
                             "mse_purified": float(((purified - x.numpy()) ** 2).mean()),
                             "baseline_on_purified": float((rt.classify("baseline", purified) == truth).mean()),
                             "mitigation_on_purified": float((rt.classify("mitigation", purified) == truth).mean())})
    clean_purified = rt.purify(clean_np)
    report["purification"] = {"rows": purification, "clean": {
        "n": n_clean, "mse": float(((clean_purified - clean_np) ** 2).mean()),
        "baseline_on_purified": float((rt.classify("baseline", clean_purified) == clean_truth).mean()),
        "mitigation_on_purified": float((rt.classify("mitigation", clean_purified) == clean_truth).mean())}}

    # 7. the default policy against its alternatives: clean accuracy and the end-to-end attack at ε = 0.3
    report["policies"] = []
    for candidate in _candidate_policies(policy, args.compare_policies):
        cand_pipeline = Pipeline.load(args.artifacts, policy=candidate)
        clean_labels, _ = outcomes(cand_pipeline, clean_np)
        adv = craft(PGD(Defended(models, candidate, rt.manifest.threshold), EPS, 0.01, 40, loss=evade_loss),
                    x[:args.n_policy], y[:args.n_policy], f"policy {candidate.classifier}/{candidate.flagged_classifier}")
        row = _pipeline_row(*outcomes(cand_pipeline, adv), truth[:len(adv)])
        report["policies"].append({
            "policy": dataclasses.asdict(candidate), "clean_accuracy": float((clean_labels == clean_truth).mean()),
            "n": row["n"], "robust_pgd40_eps0.3": row["robust"], "accuracy_pgd40_eps0.3": row["accuracy"]})
    report["minutes"] = round((time.time() - started) / 60, 1)
    return report, crafted, curves, x.numpy(), rt


def _pipeline_row(labels, flagged, truth, **fields):
    """A table row for what the runtime answered on one crafted set."""
    return {**fields, "n": len(truth), "accuracy": float((labels == truth).mean()),
            "robust": float(1 - attack_succeeded(labels, flagged, truth).mean()), "flagged": float(flagged.mean())}


def _candidate_policies(default, enabled):
    if not enabled:
        return []
    candidates = [default, Policy("baseline", "mitigation", True, False), Policy("mitigation", "mitigation", False, False),
                  Policy("mitigation", "mitigation", True, False), Policy("mitigation", "mitigation", True, True)]
    return list(dict.fromkeys(candidates))


# --- the report ----------------------------------------------------------------------------------------------

def plots(report, crafted, curves, clean, rt, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model in ("baseline", "mitigation", "pipeline"):
        for attack, style in (("FGSM", "--"), ("PGD-40", "-")):
            rows = [r for r in report["sweep"] if r["model"] == model and r["attack"] == attack]
            ax.plot([r["eps"] for r in rows], [r["robust"] for r in rows], style, marker="o", label=f"{model} {attack}")
    ax.set(xlabel="ε (L∞)", ylabel="robust accuracy", title="Accuracy under attack (pipeline: adaptive)", ylim=(0, 1))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_eps.png", dpi=120)

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (fpr, tpr, auroc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc:.3f})")
    ax.set(xlabel="false-positive rate (clean)", ylabel="true-positive rate", title=f"Detector ROC, ε = {EPS}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=120)

    adv = crafted[("baseline", "PGD-40", EPS)][:8]
    rows = [("clean", clean[:8]), (f"PGD-40 ε={EPS} vs baseline", adv), ("purified", rt.purify(adv))]
    fig, axes = plt.subplots(3, 8, figsize=(10, 4))
    for r, (title, images) in enumerate(rows):
        for c in range(8):
            axes[r, c].imshow(images[c, 0], cmap="gray", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(out / "purification_grid.png", dpi=120)
    plt.close("all")


def markdown(report):
    pct = lambda v: f"{100 * v:.2f} %"  # noqa: E731
    p = report["policy"]
    lines = [
        "# digitguard robustness report", "",
        f"Generated by `python -m digitguard.train.evaluate` in {report['minutes']} min. Attacks use the PyTorch "
        "checkpoints' gradients (checked equal to the shipped ONNX files); success is counted by the runtime as it "
        f"ships: policy `{p}`, detector threshold {report['threshold']:.4g}.", "",
        "An attack on the **pipeline** succeeds on an image when the final label is wrong *and* the detector did not "
        "flag it. *Robust* = 1 − success rate; *label accuracy* counts every wrong or rejected label as wrong.", "",
        f"## Clean accuracy (n = {report['n_clean']})", "",
        "| model | accuracy |", "|---|---|",
        *(f"| {k} | {pct(v)} |" for k, v in report["clean"].items()), "",
        f"## Accuracy under attack across ε (n = {report['n_attack']} test images)", "",
        "Baseline and mitigation rows: white-box attacks on that model. Pipeline rows: the adaptive attack through "
        "detector, purifier and classifier with a loss that also keeps the detector under its threshold.", "",
        "| model | attack | ε | robust | label accuracy | flagged |", "|---|---|---|---|---|---|",
        *(f"| {r['model']} | {r['attack']} | {r['eps']} | {pct(r['robust'])} | {pct(r['accuracy'])} | "
          f"{pct(r['flagged']) if 'flagged' in r else '–'} |" for r in report["sweep"]), "",
        "![accuracy vs eps](accuracy_vs_eps.png)", "",
        f"## AutoAttack (torchattacks, standard version, ε = {EPS})", "",
        "| model | n | accuracy |", "|---|---|---|",
        *(f"| {r['model']} | {r['n']} | {pct(r['accuracy'])} |" for r in report["autoattack"]), "",
        f"## Adaptive attacks on the pipeline (ε = {EPS}, n = {report['n_attack']})", "",
        "| attack | robust | label accuracy | flagged |", "|---|---|---|---|",
        *(f"| {r['attack']} | {pct(r['robust'])} | {pct(r['accuracy'])} | "
          f"{'–' if r['flagged'] is None else pct(r['flagged'])} |" for r in report["adaptive"]), "",
        "## Detection", "",
        f"Clean false-positive rate at the shipped threshold: {pct(report['detection']['clean_fpr_at_shipped_threshold'])} "
        f"(n = {report['detection']['n_clean']}). TPR at a given FPR uses thresholds set on these clean test images.", "",
        "| attack | made against | ε | AUROC | TPR @1 % FPR | TPR @5 % FPR | TPR @ shipped threshold |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r['attack']} | {r['against']} | {r['eps']} | {r['auroc']:.4f} | {pct(r['tpr_at_1pct_fpr'])} | "
          f"{pct(r['tpr_at_5pct_fpr'])} | {pct(r['tpr_at_shipped_threshold'])} |" for r in report["detection"]["rows"]), "",
        "![ROC](roc.png)", "",
        "## Purification (attacks made against the baseline, not the purifier)", "",
        "| input | ε | MSE attacked | MSE purified | baseline on purified | mitigation on purified |",
        "|---|---|---|---|---|---|",
        *(f"| {r['attack']} | {r['eps']} | {r['mse_attacked']:.4f} | {r['mse_purified']:.4f} | "
          f"{pct(r['baseline_on_purified'])} | {pct(r['mitigation_on_purified'])} |" for r in report["purification"]["rows"]),
        f"| clean (n = {report['purification']['clean']['n']}) | 0 | 0 | {report['purification']['clean']['mse']:.4f} | "
        f"{pct(report['purification']['clean']['baseline_on_purified'])} | "
        f"{pct(report['purification']['clean']['mitigation_on_purified'])} |", "",
        "![purification grid](purification_grid.png)", "",
    ]
    worst, aa = report["adaptive"][-1], {r["model"]: r["accuracy"] for r in report["autoattack"]}
    if "mitigation" in aa and worst["accuracy"] < aa["mitigation"]:
        lines += ["## Plainly", "",
                  f"The pipeline's label accuracy in the worst case over the adaptive attacks ({pct(worst['accuracy'])}) "
                  f"is below the mitigation model's alone under AutoAttack ({pct(aa['mitigation'])}): attacks that "
                  "ignore the detector get flagged, but the flagged path still answers, and its label is then often "
                  f"wrong. Only {pct(1 - worst['robust'])} of images were won silently (wrong and unflagged). "
                  "Treat a flagged result's label as untrusted, or run with reject_flagged / without purify_flagged.", ""]
    if report["policies"]:
        lines += ["## Policy comparison (end-to-end adaptive PGD-40, ε = 0.3)", "",
                  "| classifier | flagged classifier | purify flagged | reject flagged | clean | n | robust | label accuracy |",
                  "|---|---|---|---|---|---|---|---|",
                  *(f"| {r['policy']['classifier']} | {r['policy']['flagged_classifier']} | {r['policy']['purify_flagged']} "
                    f"| {r['policy']['reject_flagged']} | {pct(r['clean_accuracy'])} | {r['n']} | "
                    f"{pct(r['robust_pgd40_eps0.3'])} | {pct(r['accuracy_pgd40_eps0.3'])} |" for r in report["policies"]), ""]
    return "\n".join(lines)


def headline(report):
    """The figures the manifest and README quote."""
    sweep = {(r["model"], r["attack"], r["eps"]): r for r in report["sweep"]}
    aa = {r["model"]: r for r in report["autoattack"]}
    pick = lambda model: sweep.get((model, "PGD-40", EPS), {}).get("robust")  # noqa: E731
    return {"clean": report["clean"], "pgd40_eps0.3": {m: pick(m) for m in ("baseline", "mitigation", "pipeline")},
            "autoattack_eps0.3": {m: {"accuracy": r["accuracy"], "n": r["n"]} for m, r in aa.items()},
            "worst_case_adaptive_pipeline_eps0.3": report["adaptive"][-1]["robust"],
            "n_attack": report["n_attack"], "report": "report/REPORT.md"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.train.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", default="artifacts", help="exported models to evaluate (default artifacts/)")
    ap.add_argument("--checkpoints", default="checkpoints",
                    help="the PyTorch checkpoints those were exported from, for gradients (default checkpoints/)")
    ap.add_argument("--out", default=None, help="report folder (default: ARTIFACTS/report)")
    ap.add_argument("--data-dir", help="MNIST folder (as for training)")
    ap.add_argument("-n", type=int, default=1000, help="test images per attack figure (default 1000)")
    ap.add_argument("--n-clean", type=int, default=10000, help="test images for clean figures (default all 10000)")
    ap.add_argument("--n-autoattack", type=int, default=1000, help="test images for AutoAttack (default 1000)")
    ap.add_argument("--n-policy", type=int, default=500, help="test images per policy compared (default 500)")
    ap.add_argument("--no-policies", dest="compare_policies", action="store_false", help="skip the policy comparison")
    ap.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    ap.add_argument("--restarts", type=int, default=1, help="PGD restarts (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-manifest-update", dest="update_manifest", action="store_false",
                    help="do not write the headline figures into ARTIFACTS/manifest.json")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if EPS not in args.epsilons:
        args.epsilons.append(EPS)  # the adaptive section and the headline are stated at ε = 0.3
    report, crafted, curves, clean, rt = evaluate(args)
    out = Path(args.out or Path(args.artifacts) / "report")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "REPORT.md").write_text(markdown(report))
    plots(report, crafted, curves, clean, rt, out)
    if args.update_manifest:
        path = Path(args.artifacts) / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["evaluation"] = headline(report)
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"report: {out / 'REPORT.md'} ({report['minutes']} min)")


if __name__ == "__main__":
    main()
