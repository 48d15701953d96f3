"""What every verb shares: the model and policy options, loading the pipeline they describe, option types,
the exit codes."""
import argparse
import math

from ..pipeline import Pipeline

EXIT_CODES = """exit codes:
  0    every input was read
  1    some inputs failed (each one reported, the others still answered), or the video source stalled
  2    usage or setup error (bad option, models missing or altered, a source that cannot be opened)
  3    internal error: a bug in digitguard (the message says where; please report it)
  130  interrupted (Ctrl-C)
  141  the output was closed early (| head): stopped quietly"""
MAX_SECONDS = 86_400  # a day: any longer wait is a mistake, and OpenCV takes timeouts as int32 milliseconds


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


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a count of frames or repeats; 0 or less is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0 and at most MAX_SECONDS (not nan, inf or negative)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:  # also false for nan
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 and at most {MAX_SECONDS:,}")
    return value
