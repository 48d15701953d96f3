"""Which mitigation recipe ships, measured: `python -m digitguard.train.compare --epochs 4`.

A candidate is a set of train options written `key=value,key=value`, each key a recipe option of
`python -m digitguard.train` without its dashes (arch, hidden, activation, ema, beta, late-steps,
eps-ramp, epochs, ...; a bare key such as `beta-ramp` is a switch). Every candidate trains on the
same data with the same seed and epoch budget (unless it sets its own `epochs`), then is measured on
the validation split (never the test set: this picks a default): clean on MNIST and on the photo path,
and on MNIST with our PGD-40 and with torchattacks' APGD-CE, an independent attack; the best few by
APGD-CE also face the reference AutoAttack (pyautoattack, standard). Prints a table and writes
compare.json; a candidate already trained and measured in --out is reused, so an interrupted search resumes.
"""
import argparse
import json
from pathlib import Path

import torchattacks

from digitguard.runtime.contract import EPS

from . import checkpoint
from .attacks import AUTOATTACKS
from .batched import accuracy, attack_all, pgd_eval
from .data import load_splits
from .photos import CACHE_FOLDER
from .train import PROFILES, RAW, by_path, main as train

CANDIDATES = (  # the v2 search: today's shape first, the yardstick every lever is read against
    "arch=cnn",
    "arch=cnn,hidden=200,ema=0.995",  # an EMA candidate is also measured without it: FC 200 alone, from one run
    "arch=cnn,hidden=200,activation=silu,ema=0.995",
    "arch=cnn,hidden=200,ema=0.995,beta=8",
    "arch=cnn,hidden=200,ema=0.995,late-steps=20",
    "arch=trades-cnn",
)


def train_options(candidate):
    """'arch=cnn,beta-ramp' -> ['--arch', 'cnn', '--beta-ramp']: the train options a candidate stands for."""
    options = []
    for item in candidate.split(","):
        key, _, value = item.partition("=")
        options += [f"--{key.strip()}"] + ([value.strip()] if value else [])
    return options


def folder_for(out, candidate):
    return Path(out) / candidate.replace(",", "_").replace("=", "-")


def measured(folder, candidate, val, args):
    """The candidate's row: its recipe and validation figures, measured once and kept in folder/measured.json."""
    path = Path(folder, "measured.json")
    if not path.is_file():
        model, info = checkpoint.load(folder, "mitigation", args.device)
        recipe = {k: info["config"].get(k) for k in ("arch", "width", "hidden", "activation", "loss", "ema", "beta", "epochs",
                                                     "late_steps", "eps_ramp", "beta_ramp", "augment", "minutes")}
        row = {"candidate": candidate, "folder": str(folder), **recipe, **measure(model, val, args.n, args.device)}
        path.write_text(json.dumps(row, indent=2) + "\n")
    return json.loads(path.read_text())


def measure(model, val, n, device):
    """Clean accuracy on each validation path (all of it), robust accuracy at ε=0.3 on MNIST's first n images."""
    x, y = val["mnist"][0][:n], val["mnist"][1][:n]
    apgd = torchattacks.APGD(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="ce", seed=0)
    return {"val_clean": accuracy(model, *val["mnist"], device),
            "val_clean_photo": accuracy(model, *val["photo"], device),
            "val_pgd40": accuracy(model, attack_all(pgd_eval(model), x, y, device, desc="PGD-40"), y, device),
            "val_apgd_ce": accuracy(model, attack_all(apgd, x, y, device, desc="APGD-CE"), y, device)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.train.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=PROFILES, default="full", help="data and defaults as in python -m digitguard.train")
    ap.add_argument("--epochs", type=int, default=4, help="training epochs for every candidate (default 4)")
    ap.add_argument("--n", type=int, default=1000, help="validation images attacked per candidate (default 1000)")
    ap.add_argument("--autoattack-top", type=int, default=2, help="how many of the best by APGD-CE face AutoAttack (default 2)")
    ap.add_argument("--n-autoattack", type=int, default=500, help="validation images for AutoAttack (default 500)")
    ap.add_argument("--out", default="checkpoints/compare", help="one checkpoint folder per candidate, and compare.json")
    ap.add_argument("--data-dir", help="folder with the four MNIST files (as for python -m digitguard.train)")
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                    help="recipes to train, each 'key=value,...' of train options (default: the v2 search)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args(argv)

    profile = PROFILES[args.profile]
    val = by_path(load_splits(args.data_dir, profile.train_size, profile.test_size, seed=args.seed,
                              photo_val=profile.photo_val, cache_dir=Path(args.out) / CACHE_FOLDER), "val")
    rows = []
    for candidate in args.candidates:
        folder = folder_for(args.out, candidate)
        if not checkpoint.exists(folder, "mitigation"):
            common = ["--profile", args.profile, "--epochs", str(args.epochs), "--out", str(folder), "--seed",
                      str(args.seed), "--device", args.device, "--resume", "--no-test-attack",
                      "--save-without-ema"]
            train(["mitigation", *common, *train_options(candidate)]
                  + (["--data-dir", args.data_dir] if args.data_dir else []))
        rows.append(measured(folder, candidate, val, args))
        if checkpoint.exists(folder / RAW, "mitigation"):  # an EMA candidate: its trained weights are a row too
            rows.append(measured(folder / RAW, f"{candidate} (weights without EMA)", val, args))

    for row in sorted(rows, key=lambda r: -r["val_apgd_ce"])[:args.autoattack_top]:
        if "val_autoattack" not in row:
            model, _ = checkpoint.load(row["folder"], "mitigation", args.device)
            x, y = val["mnist"][0][:args.n_autoattack], val["mnist"][1][:args.n_autoattack]
            adv = attack_all(AUTOATTACKS["pyautoattack"](model, args.seed), x, y, args.device, desc="AutoAttack")
            row.update(val_autoattack=accuracy(model, adv, y, args.device), n_autoattack=len(x))
            Path(row["folder"], "measured.json").write_text(json.dumps(row, indent=2) + "\n")

    print(f"\n{'candidate':40} {'min':>6} {'clean':>7} {'photo':>7} {'PGD-40':>7} {'APGD-CE':>7} {'AA':>7}"
          f"  (val; attacks on MNIST's first {args.n}, ε={EPS})")
    for r in rows:
        aa = f"{r['val_autoattack']:7.4f}" if "val_autoattack" in r else "      –"
        minutes = "–" if r["minutes"] is None else f"{r['minutes']:.1f}"  # weights without EMA: trained in their twin's run
        photo = f"{r['val_clean_photo']:7.4f}" if "val_clean_photo" in r else "      –"  # rows measured before photos
        print(f"{r['candidate']:40} {minutes:>6} {r['val_clean']:7.4f} {photo} {r['val_pgd40']:7.4f} {r['val_apgd_ce']:7.4f} {aa}")
    best = max(rows, key=lambda r: (r["val_apgd_ce"], r["val_clean"]))
    print(f"best by APGD-CE: {best['candidate']}")
    Path(args.out, "compare.json").write_text(json.dumps({"n": args.n, "eps": EPS, "epochs": args.epochs,
                                                          "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
