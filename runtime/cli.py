"""`digitguard VERB ...`: argparse with one subcommand per module of `commands/` (rembg / ultralytics style).

Each verb module exposes `add_parser(subparsers)` (registering a subparser named after the verb)
and `run(args) -> int`; `commands/common.py` gives every verb the same model options and exit codes.
"""
import argparse
import sys

from .commands import bench, camera, demo, info, predict
from .commands.common import EXIT_CODES
from .errors import DigitguardError

VERBS = {"predict": predict, "camera": camera, "demo": demo, "info": info, "bench": bench}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="digitguard", epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Read handwritten digits; detect and withstand adversarial inputs.")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS.values():
        verb.add_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        return VERBS[args.verb].run(args)
    except DigitguardError as e:  # setup problems (models missing, bad policy...): a message, not a traceback
        print(f"digitguard {args.verb}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
