"""`python -m digitguard.export.bench`: `digitguard bench` with the same weights in PyTorch eager beside it.

The runtime never imports torch, so the eager yardstick lives here, next to the other code that has it.
"""
import argparse
import sys

import torch

from digitguard.runtime.bench import measure
from digitguard.runtime.commands import bench
from digitguard.runtime.contract import MODEL_NAMES
from digitguard.train import checkpoint, flag


def eager_rows(checkpoints):
    """A `benchmark` hook timing each checkpoint in PyTorch eager (inference mode, default threads)."""
    models = {name: checkpoint.load(checkpoints, name)[0] for name in MODEL_NAMES}
    models["detector"] = flag.load(checkpoints, models["detector"], models[flag.CLASSIFIER])[0]  # as detector.onnx

    def rows(repeats, batch):
        one, many = torch.from_numpy(batch[:1]), torch.from_numpy(batch)
        with torch.inference_mode():
            return {f"torch eager {name}": measure(lambda: model(one), lambda: model(many), repeats)
                    for name, model in models.items()}

    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m digitguard.export.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_options(parser)
    parser.add_argument("--checkpoints", default="checkpoints",
                        help="PyTorch checkpoints the artifacts were exported from (default: checkpoints/)")
    args = parser.parse_args(argv)
    try:
        eager = eager_rows(args.checkpoints)
    except (OSError, RuntimeError) as e:  # missing files, or weights of another architecture version
        sys.exit(f"error: checkpoints in {args.checkpoints} do not load: {str(e).splitlines()[0]}")
    return bench.run(args, eager)


if __name__ == "__main__":
    sys.exit(main())
