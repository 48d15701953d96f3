"""`digitguard demo`: the shipped clean and attacked samples, stage by stage, next to the baseline alone."""
import numpy as np

from .cli import add_model_options, load_pipeline, verb_parser
from .errors import ImageReadError
from .pipeline import Pipeline, Policy

BASELINE_ONLY = Policy(classifier="baseline", flagged_classifier="baseline", purify_flagged=False)


def add_parser(subparsers):
    parser = verb_parser(subparsers, "demo", help="show detection and purification on shipped samples",
                         description="Run the pipeline on samples/demo.npz (clean MNIST digits and PGD attacks "
                                     "on the baseline) and print what each stage decided.")
    add_model_options(parser)


def load_samples(folder):
    path = folder / "samples" / "demo.npz"
    try:
        with np.load(path) as data:
            return data["clean"], data["adversarial"], data["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise ImageReadError(f"{path}: demo samples missing or unreadable ({e}); "
                             "they are written by `python -m digitguard.export`") from None


def run(args) -> int:
    guarded = load_pipeline(args)
    clean, adversarial, labels = load_samples(guarded.manifest.folder)
    baseline = Pipeline.load(guarded.manifest.folder, device=args.device, policy=BASELINE_ONLY)
    images = np.concatenate([clean, adversarial])
    kinds = ["clean"] * len(clean) + ["attacked"] * len(adversarial)
    truth = np.concatenate([labels, labels])
    ours, alone = guarded.predict(images), baseline.predict(images)
    print(f"policy: {guarded.policy}\ndetector flags adversarial_score >= {guarded.threshold:.3f}\n")
    print("kind      true  baseline alone  adv.score  flagged  purified  classifier      final")
    for kind, true, r, b in zip(kinds, truth, ours, alone):
        final = "rejected" if r.label is None else f"{r.label} {'ok' if r.label == true else 'WRONG'}"
        print(f"{kind:<8}  {true:>4}  {b.label:>5} {'ok' if b.label == true else 'WRONG':<8}  {r.adversarial_score:>9.3f}  "
              f"{'yes' if r.flagged else 'no':>7}  {'yes' if r.purified else 'no':>8}  {r.classifier:<14}  {final}")
    for kind in ("clean", "attacked"):
        rows = [(t, r, b) for k, t, r, b in zip(kinds, truth, ours, alone) if k == kind]
        print(f"{kind}: baseline alone {sum(b.label == t for t, _, b in rows)}/{len(rows)} right, "
              f"digitguard {sum(r.label == t for t, r, _ in rows)}/{len(rows)} right, "
              f"{sum(r.flagged for _, r, _ in rows)}/{len(rows)} flagged")
    return 0
