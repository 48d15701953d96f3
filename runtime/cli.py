"""`digitguard VERB ...`: argparse with one subcommand per module of `commands/` (rembg / ultralytics style).

Each verb module exposes `add_parser(subparsers)` (registering a subparser named after the verb)
and `run(args) -> int`; `commands/common.py` gives every verb the same model options and exit codes.
Every failure ends here as a message and one of those exit codes, never as a traceback.
"""
import argparse
import os
import sys
import traceback

import cv2

from .commands import bench, camera, demo, info, predict
from .commands.common import EXIT_CODES
from .errors import DigitguardError, StreamTimeout

VERBS = {"predict": predict, "camera": camera, "demo": demo, "info": info, "bench": bench}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="digitguard", epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Read handwritten digits; detect and withstand adversarial inputs.")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS.values():
        verb.add_parser(subparsers)
    args = parser.parse_args(argv)
    _quiet_opencv()
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8, nor printable in the locale's
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return VERBS[args.verb].run(args)
    except StreamTimeout as e:  # the source stalled: an input that failed, not a setup problem
        return _fail(args.verb, f"error: {e}", 1)
    except DigitguardError as e:  # setup problems (models missing, bad policy, unusable source...)
        return _fail(args.verb, f"error: {e}", 2)
    except KeyboardInterrupt:
        return _fail(args.verb, "interrupted", 130)
    except BrokenPipeError:  # whoever read the output stopped (| head): stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so Python's last flush cannot fail again
        return 141
    except Exception as e:  # a bug: say where, keep exit 1 meaning "some inputs failed"
        where = traceback.extract_tb(e.__traceback__)[-1]
        return _fail(args.verb, f"internal error: {type(e).__name__}: {e} (at {where.filename}:{where.lineno}; "
                                "please report it)", 3)


def _quiet_opencv() -> None:
    """OpenCV's and FFmpeg's own warnings (a camera index with no camera, a broken video) would come before the
    one line that says what went wrong; the CLI says it itself. A level the user set in the environment wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when the first video opens
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _fail(verb: str, message: str, code: int) -> int:
    print(f"digitguard {verb}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
