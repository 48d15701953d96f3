"""`digitguard bench`: latency, throughput and camera frames/s, all measured side by side in one run.

`runtime/bench.py` measures; this verb prints its figures, their ratios and the targets they meet or miss.
"""
import onnxruntime as ort

from ..bench import benchmark
from ..footage import FRAME_SIZE
from .common import positive_int, verb_parser


def add_parser(subparsers):
    add_options(verb_parser(subparsers, "bench", help="latency, throughput and camera frames/s against the targets",
                            description=__doc__.splitlines()[0]))


def add_options(parser):
    parser.add_argument("--artifacts", default=None, metavar="DIR",
                        help="folder of exported models (default: the packaged ones)")
    parser.add_argument("--frames", type=positive_int, default=2000, metavar="N",
                        help="camera frames to time after warm-up (default: 2000)")
    # 1000: the overhead figure is a difference of two medians of about 25 us apart; at 300 runs each, two idle
    # runs of the same code read 23.3 and 24.6 us
    parser.add_argument("--repeats", type=positive_int, default=1000, metavar="N",
                        help="single-image runs per latency figure (default: 1000)")
    return parser


def run(args, eager=None) -> int:
    """The whole benchmark, printed; `eager` as in `bench.benchmark` (`python -m digitguard.export.bench`)."""
    figures = benchmark(args.artifacts, frames=args.frames, repeats=args.repeats, eager=eager)
    print(f"digitguard bench: onnxruntime {ort.__version__} on CPU, artifacts {figures.artifacts}, "
          f"repeats {args.repeats}")
    for note in figures.notes:
        print(note)
    print(f"{'model':34} {'p50 ms':>9} {'p99 ms':>9} {'batch-256 img/s':>16}")
    for name, t in figures.timings.items():
        print(f"{name:34} {t.p50:9.3f} {t.p99:9.3f} {t.throughput:16.0f}")
    cam = figures.camera
    print(f"camera path: {cam.frames} frames of {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, "
          f"{cam.digits_per_frame:.1f} digits/frame, {cam.fps:.1f} frames/s; "
          f"RSS {cam.rss_start:.1f} MB -> {cam.rss_end:.1f} MB ({cam.rss_growth:+.1f} MB)")
    for name, ratio in figures.ratios.items():
        print(f"{name}: x{ratio:.2f}")
    print(f"\n{'target':36} {'measured':>10} {'goal':>8}  met")
    for target in figures.targets:
        measured = "missing" if target.measured is None else f"{target.measured:.3f}"
        print(f"{target.name:36} {measured:>10} {target.goal:>8}  {'yes' if target.met else 'NO'}")
    return 0
