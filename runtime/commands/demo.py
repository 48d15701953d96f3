"""`digitguard demo`: the shipped clean and attacked samples, stage by stage, next to the baseline alone."""
import numpy as np

from ..manifest import load_samples
from ..pipeline import Pipeline, Policy
from .common import add_model_options, load_pipeline, verb_parser

BASELINE_ONLY = Policy(classifier="baseline", flagged_classifier="baseline", purify_flagged=False)
# The purifier at work whatever the shipped policy says: flagged images denoised, then read by the baseline.
PURIFIED_BASELINE = Policy(classifier="baseline", flagged_classifier="baseline", purify_flagged=True)


def add_parser(subparsers):
    parser = verb_parser(subparsers, "demo", help="show detection and purification on shipped samples",
                         description="Run the pipeline on samples/demo.npz (clean MNIST digits and PGD attacks "
                                     "on the baseline) and print what each stage decided.")
    add_model_options(parser)


def run(args) -> int:
    guarded = load_pipeline(args)
    clean, adversarial, labels = load_samples(guarded.manifest.folder)
    folder = guarded.manifest.folder
    baseline, purified = (Pipeline.load(folder, device=args.device, policy=p) for p in (BASELINE_ONLY, PURIFIED_BASELINE))
    images = np.concatenate([clean, adversarial])
    kinds = ["clean"] * len(clean) + ["attacked"] * len(adversarial)
    truth = np.concatenate([labels, labels])
    rows = list(zip(kinds, truth, guarded.predict(images), baseline.predict(images), purified.predict(images)))
    print(f"policy: {guarded.policy}\ndetector flags adversarial_score >= {guarded.threshold:.3f}\n")
    print("kind      true  baseline alone  purifier+baseline  adv.score  flagged  purified  classifier      final")
    for kind, true, r, b, p in rows:
        final = "rejected" if r.label is None else f"{r.label} {'ok' if r.label == true else 'WRONG'}"
        print(f"{kind:<8}  {true:>4}  {b.label:>5} {_mark(b, true):<8}  {p.label:>8} {_mark(p, true):<8}  "
              f"{r.adversarial_score:>9.3f}  {'yes' if r.flagged else 'no':>7}  {'yes' if r.purified else 'no':>8}  "
              f"{r.classifier:<14}  {final}")
    for kind in ("clean", "attacked"):
        part = [row for row in rows if row[0] == kind]
        n = len(part)

        def right(column):
            return sum(row[column].label == row[1] for row in part)

        print(f"{kind}: baseline alone {right(3)}/{n} right, purifier+baseline {right(4)}/{n}, "
              f"digitguard {right(2)}/{n} right, {sum(row[2].flagged for row in part)}/{n} flagged")
    return 0


def _mark(result, true):
    return "ok" if result.label == true else "WRONG"
