"""`digitguard camera`: read handwritten digits live from a camera, a video file or a stream URL.

The frame loop is `runtime/video.py`; this verb shows its digits overlaid in a window (red box = attack
flagged), prints them as one JSON line per frame with --headless, and can save the overlaid video.
"""
import json
import sys

import cv2

from ..errors import DigitguardError
from ..video import LIVE, draw_overlay, number, open_source, process_stream, source_kind
from .common import add_model_options, load_pipeline, positive_int, seconds, verb_parser

WINDOW = "digitguard camera"


def add_parser(subparsers):
    p = verb_parser(subparsers, "camera", help="read digits live from a camera, video file or stream",
                    description=__doc__.splitlines()[0])
    p.add_argument("--source", default="0",
                   help="camera index (0, 1, ...), camera device (/dev/video0), video file or URL (scheme://...); "
                        "FIFOs, folders and other special files are refused (default: 0)")
    p.add_argument("--headless", action="store_true", help="print one JSON line per frame instead of a window")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS",
                   help="give up (exit 1) when the source takes longer to open, or delivers no frame for this "
                        "long (default: 10)")
    p.add_argument("--save", default=None, metavar="OUT.mp4", help="also write the overlaid video here")
    add_model_options(p)
    return p


def run(args) -> int:
    """Raises SourceError (exit 2) for a source that cannot be opened, StreamTimeout (exit 1) when it stalls."""
    capture = open_source(args.source, args.timeout)
    if not args.headless:
        try:
            cv2.namedWindow(WINDOW)
        except cv2.error:
            capture.release()
            print("digitguard camera: this OpenCV has no GUI support (opencv-python-headless?): "
                  "use --headless, or install opencv-python for a window", file=sys.stderr)
            return 2
    pipeline = load_pipeline(args)
    live = source_kind(args.source) in LIVE
    writer = None
    try:
        for index, frame, digits in process_stream(pipeline, capture, args.max_frames, args.timeout, live):
            if args.headless:
                print(json.dumps({"frame": index, "number": number(digits), "digits": digits}), flush=True)
            if args.save or not args.headless:
                frame = draw_overlay(frame, digits)
            if args.save:
                writer = writer or _open_writer(args.save, capture, frame)
                writer.write(frame)
            if not args.headless:
                cv2.imshow(WINDOW, frame)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):  # q or Esc
                    break
    finally:
        if writer is not None:
            writer.release()
        if not args.headless:
            cv2.destroyAllWindows()
    return 0


def _open_writer(path, capture, frame):
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0  # cameras and streams often report 0
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    if not writer.isOpened():
        raise DigitguardError(f"cannot write a video to {path}")
    return writer
