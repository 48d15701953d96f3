"""Robustness of what ships, measured by attacks that know the whole defence.

    python -m digitguard.train.evaluate --artifacts artifacts/ --out artifacts/report/

Attacks are crafted with the gradients of the PyTorch checkpoints (the export proves their parity
with the ONNX files; this script re-checks it), and every success is counted by running the crafted
images through the runtime as it ships: same ONNX models, policy and detector threshold.

An attack on the pipeline succeeds on an image when the final label is wrong AND the detector
did not flag it (under a reject policy, flagged means rejected). Tables also give plain label
accuracy, which counts a flagged-but-wrong answer as wrong.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from digitguard.export.manifest import set_section
from digitguard.runtime import DigitguardError
from digitguard.runtime.contract import EPS

from ..data import DataError
from .context import Context, EvaluationError
from .report import headline, markdown, plots
from .sections import SECTIONS

EPSILONS = (0.05, 0.1, 0.2, 0.3, 0.4)


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
    ap.add_argument("--n-photo", type=int, default=10000,
                    help="test digits rendered as held-out-look photos for the photo path (default all 10000)")
    ap.add_argument("--camera-frames", type=int, default=3000,
                    help="frames of the camera-path video, a new scene of 2-4 test digits every 3 (default 3000: "
                         "1,000 scenes; at 300 one misread digit moved the figure by a point)")
    ap.add_argument("--n-numbers", type=int, default=1000,
                    help="photos of 3-digit numbers of test digits, in held-out looks, for the number path (default 1000)")
    ap.add_argument("--n-writers", type=int, default=1797,
                    help="digits of other writers (UCI optdigits' test set, real handwriting) read as upscaled "
                         "scans (default all 1797)")
    ap.add_argument("--no-policies", dest="compare_policies", action="store_false", help="skip the policy comparison")
    ap.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    ap.add_argument("--restarts", type=int, default=1, help="PGD restarts (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-manifest-update", dest="update_manifest", action="store_false",
                    help="do not write the headline figures into ARTIFACTS/manifest.json")
    args = ap.parse_args(argv)
    if EPS not in args.epsilons:
        args.epsilons.append(EPS)  # the adaptive section and the headline are stated at ε = EPS
    return args


def evaluate(args):
    """(report, context): every section's figures, in order, and what the plots need."""
    started = time.time()
    ctx = Context.create(args)
    report = ctx.header()
    for name, section in SECTIONS.items():
        report[name] = section(ctx)
    report["minutes"] = round((time.time() - started) / 60, 1)
    return report, ctx


def main(argv=None):
    args = parse_args(argv)
    try:
        report, ctx = evaluate(args)
    except (EvaluationError, DataError, DigitguardError) as e:
        sys.exit(f"error: {e}")
    out = Path(args.out or Path(args.artifacts) / "report")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "REPORT.md").write_text(markdown(report))
    plots(ctx, report, out)
    if args.update_manifest:
        set_section(Path(args.artifacts), "evaluation", headline(report))
    print(f"report: {out / 'REPORT.md'} ({report['minutes']} min)")


if __name__ == "__main__":
    main()
