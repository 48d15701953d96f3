"""`digitguard VERB ...`: argparse with one subcommand per module (rembg / ultralytics style).

Each verb module exposes `add_parser(subparsers)` (registering a subparser named after the verb)
and `run(args) -> int`. `add_model_options` and `load_pipeline` give every verb the same
--artifacts / --device / policy options.
"""
import argparse
import importlib
import sys

from .errors import DigitguardError
from .pipeline import Pipeline

VERBS = ("predict", "camera", "demo", "info", "bench")
EXIT_CODES = """exit codes:
  0  every input was read
  1  some inputs failed (each one reported, the others still answered)
  2  usage or setup error (bad option, models missing or altered)"""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models and policy (defaults: the shipped models and their manifest policy)")
    group.add_argument("--artifacts", metavar="DIR", help="folder with manifest.json and the ONNX models")
    group.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="cuda falls back to the CPU, with a warning, when unavailable")
    group.add_argument("--classifier", metavar="NAME", help="decides unflagged inputs (baseline, mitigation, *.int8)")
    group.add_argument("--flagged-classifier", metavar="NAME", help="decides inputs the detector flags")
    group.add_argument("--purify-flagged", action=argparse.BooleanOptionalAction, default=None,
                       help="denoise flagged inputs before classifying them")
    group.add_argument("--reject-flagged", action=argparse.BooleanOptionalAction, default=None,
                       help="give flagged inputs no label instead of a guess")


def load_pipeline(args) -> Pipeline:
    """The pipeline the model options of `args` describe; options left out keep the manifest policy."""
    names = ("classifier", "flagged_classifier", "purify_flagged", "reject_flagged")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return Pipeline.load(args.artifacts, device=args.device, policy=overrides)


def verb_parser(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser that documents the exit codes like every other one."""
    return subparsers.add_parser(name, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 **kwargs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="digitguard", epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Read handwritten digits; detect and withstand adversarial inputs.")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    modules = {}
    for verb in VERBS:
        modules[verb] = importlib.import_module(f"{__package__}.{verb}")
        modules[verb].add_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        return modules[args.verb].run(args)
    except DigitguardError as e:  # setup problems (models missing, bad policy...): a message, not a traceback
        print(f"digitguard {args.verb}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
