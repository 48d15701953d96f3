"""Which mitigation recipe ships, measured: `python -m digitguard.train.compare --epochs 4`.

Trains each candidate (architecture x objective) on the same data with the same seed and epoch
budget, then measures it on the validation split (never the test set: this picks a default) with
our PGD-40 and with torchattacks' APGD-CE, an independent attack. Prints a table and writes
compare.json; the candidate with the best APGD-CE accuracy is the one to ship.
"""
import argparse
import json
from pathlib import Path

import torchattacks

from digitguard.runtime.contract import EPS

from . import checkpoint
from .batched import accuracy, attack_all, pgd_eval
from .data import load_splits
from .train import PROFILES, main as train

CANDIDATES = (("cnn", "trades"), ("resnet", "trades"), ("cnn", "mixed"))


def measure(model, val, n, device):
    """Validation clean accuracy (all of it) and robust accuracy at ε=0.3 on its first n images."""
    x, y = val[0][:n], val[1][:n]
    apgd = torchattacks.APGD(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="ce", seed=0)
    return {"val_clean": accuracy(model, *val, device),
            "val_pgd40": accuracy(model, attack_all(pgd_eval(model), x, y, device, desc="PGD-40"), y, device),
            "val_apgd_ce": accuracy(model, attack_all(apgd, x, y, device, desc="APGD-CE"), y, device)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.train.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=PROFILES, default="full", help="data and widths as in python -m digitguard.train")
    ap.add_argument("--epochs", type=int, default=4, help="training epochs for every candidate (default 4)")
    ap.add_argument("--n", type=int, default=1000, help="validation images attacked per candidate (default 1000)")
    ap.add_argument("--out", default="checkpoints/compare", help="one checkpoint folder per candidate, and compare.json")
    ap.add_argument("--data-dir", help="folder with the four MNIST files (as for python -m digitguard.train)")
    ap.add_argument("--candidates", nargs="+", choices=[f"{a}/{l}" for a, l in CANDIDATES],
                    default=[f"{a}/{l}" for a, l in CANDIDATES], help="which to train (default: all three)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args(argv)

    profile = PROFILES[args.profile]
    val = load_splits(args.data_dir, profile.train_size, profile.test_size, seed=args.seed)["val"]
    rows = []
    for arch, loss in (c.split("/") for c in args.candidates):
        folder = Path(args.out) / f"{arch}-{loss}"
        common = ["--profile", args.profile, "--epochs", str(args.epochs), "--out", str(folder), "--seed", str(args.seed), "--device", args.device]
        train(["mitigation", "--arch", arch, "--loss", loss, "--resume", *common]
              + (["--data-dir", args.data_dir] if args.data_dir else []))
        model, info = checkpoint.load(folder, "mitigation", args.device)
        rows.append({"arch": arch, "loss": loss, "width": info["config"]["width"], "epochs": args.epochs,
                     "minutes": info["config"]["minutes"], **measure(model, val, args.n, args.device)})

    print(f"\n{'candidate':14} {'width':>5} {'min':>6} {'val clean':>9} {'PGD-40':>7} {'APGD-CE':>7}  (n={args.n}, ε={EPS})")
    for r in rows:
        print(f"{r['arch'] + '/' + r['loss']:14} {r['width']:5} {r['minutes']:6.1f} "
              f"{r['val_clean']:9.4f} {r['val_pgd40']:7.4f} {r['val_apgd_ce']:7.4f}")
    best = max(rows, key=lambda r: (r["val_apgd_ce"], r["val_clean"]))
    print(f"best by APGD-CE: {best['arch']}/{best['loss']}")
    Path(args.out, "compare.json").write_text(json.dumps({"n": args.n, "eps": EPS, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
