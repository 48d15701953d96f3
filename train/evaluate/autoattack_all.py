"""AutoAttack on every test image, in chunks, resumable: hours on a CPU, so progress is a file.

    python -m digitguard.train.evaluate.autoattack_all --implementation pyautoattack \\
        --progress artifacts/report/autoattack_all.json

Each finished chunk is written to the progress file at once; run the same command again after an
interruption and it continues with the first chunk not in the file. Success is counted by the shipped
ONNX model (the checkpoint's gradients craft, after the parity check the report uses). `--device cuda` crafts on
a GPU (minutes instead of hours); each chunk records the device that made it.
"""
import argparse
import json
import sys
from pathlib import Path

from digitguard.runtime import DigitguardError
from digitguard.runtime.contract import EPS

from ..attacks import AUTOATTACKS
from ..batched import chunks, require_device
from ..data import DataError, load_splits
from .context import EvaluationError, ShippedRuntime, craft, load_torch_models


def settings(args, n, sha256):
    """What a progress file must agree on before its chunks are reused: the same attack on the same weights
    (`sha256` of the model's ONNX file, so a retrained model never inherits the last one's chunks)."""
    return {"model": args.model, "sha256": sha256, "implementation": args.implementation, "version": "standard",
            "eps": EPS, "seed": args.seed, "chunk": args.chunk, "n": n}


def read_progress(path, expected):
    if not path.is_file():
        return {**expected, "chunks": []}
    progress = json.loads(path.read_text())
    differing = [key for key, value in expected.items() if progress.get(key) != value]
    if differing:
        raise EvaluationError(f"{path} was made with other settings ({', '.join(differing)}); use another --progress")
    return progress


def run(args):
    test_x, test_y = load_splits(args.data_dir)["test"]
    n = min(args.n, len(test_x))
    runtime = ShippedRuntime(args.artifacts)
    model = load_torch_models(args.checkpoints, runtime, test_x)[args.model].to(args.device)
    path = Path(args.progress)
    progress = read_progress(path, settings(args, n, runtime.manifest.models[args.model]["sha256"]))
    done = {c["start"] for c in progress["chunks"]}
    for index, (x, y) in enumerate(zip(chunks(test_x[:n], args.chunk), chunks(test_y[:n], args.chunk))):
        start = index * args.chunk
        if start in done:
            continue
        attack = AUTOATTACKS[args.implementation](model, args.seed)
        adv = craft(attack, x, y, f"AutoAttack ({args.implementation}) images {start}-{start + len(x)}", args.device)
        correct = int((runtime.classify(args.model, adv) == y.numpy()).sum())
        progress["chunks"].append({"start": start, "n": len(x), "correct": correct, "device": args.device})
        attacked = sum(c["n"] for c in progress["chunks"])
        progress.update(attacked=attacked, accuracy=sum(c["correct"] for c in progress["chunks"]) / attacked,
                        complete=attacked == n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(progress, indent=2) + "\n")
        print(f"{attacked}/{n}: accuracy so far {progress['accuracy']:.4f}", flush=True)
    return progress


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m digitguard.train.evaluate.autoattack_all", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--implementation", choices=AUTOATTACKS, default="pyautoattack")
    ap.add_argument("--model", choices=["mitigation", "baseline"], default="mitigation")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--checkpoints", default="checkpoints", help="the checkpoints the artifacts were exported from")
    ap.add_argument("--progress", default="artifacts/report/autoattack_all.json", help="progress and result file")
    ap.add_argument("--chunk", type=int, default=500, help="test images per chunk (default 500)")
    ap.add_argument("-n", type=int, default=10000, help="test images (default all 10000)")
    ap.add_argument("--data-dir", help="MNIST folder (as for training)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the attack runs (default cpu)")
    args = ap.parse_args(argv)
    require_device(args.device)
    try:
        progress = run(args)
    except (EvaluationError, DataError, DigitguardError) as e:
        sys.exit(f"error: {e}")
    print(f"AutoAttack ({args.implementation}) ε={EPS} {args.model}: {progress.get('accuracy', 0):.4f} "
          f"on {progress.get('attacked', 0)}/{progress['n']} test images -> {args.progress}")


if __name__ == "__main__":
    main()
