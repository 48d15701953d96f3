"""`digitguard bench`: latency, throughput and camera frames/s, all measured side by side in one run.

onnxruntime (CPU) runs each exported model, the whole Pipeline and the fused pipeline.onnx; the same
weights in PyTorch eager (`python -m digitguard.export.bench`, which has torch) and a classifier shaped like
the ONNX model zoo's MNIST model are the yardsticks. The camera path times 640x480 frames of a generated
video through locate -> pipeline -> overlay and watches the memory over the run.
"""
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from . import camera
from .cli import verb_parser
from .contract import IMAGE_SIZE, INPUT_NAME, MODEL_NAMES
from .demo import load_samples
from .manifest import Manifest
from .pipeline import Pipeline
from .sessions import CPU, session_options

BATCH = 256
TARGET_RATIO = 1.5  # pipeline p50 / zoo classifier p50
TARGET_FPS = 100.0
TARGET_RSS_GROWTH_MB = 10.0  # "flat": what a steady loop may still gain (allocator and cache noise)
FRAME_SIZE = (640, 480)


# --- synthetic camera video (also used by tests/video.py) -------------------------------------------------

def write_video(path, glyphs, labels, frames, seed=0, fps=30, size=FRAME_SIZE, hold=10):
    """Write a video of 2-4 dark digits on unevenly lit, noisy paper; return each frame's labels, left to right.

    `glyphs` are MNIST-style uint8 [K, 28, 28] (white digit on black). A new scene every `hold` frames,
    like a hand moving sheets under a camera; the noise changes every frame, like a sensor's.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = 150 + 80 * xx / width + 20 * yy / height  # lit from one side
    noises = [rng.normal(0, 6, (height, width)).astype(np.float32) for _ in range(5)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an mp4v video to {path}")
    truth = []
    try:
        for index in range(frames):
            if index % hold == 0:
                scene, scene_labels = _scene(rng, glyphs, labels, width, height)
                clean = paper * (1 - 0.85 * scene)  # ink darkens the paper it lies on
            gray = np.clip(clean + noises[index % len(noises)], 0, 255).astype(np.uint8)
            writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
            truth.append(scene_labels)
    finally:
        writer.release()
    return truth


def _scene(rng, glyphs, labels, width, height):
    """Ink coverage in [0, 1] of 2-4 digits scaled 3-4x, one per equal slot of the width, and their labels."""
    count = int(rng.integers(2, 5))
    slot = width // count
    ink = np.zeros((height, width), np.float32)
    picks = rng.integers(0, len(glyphs), count)
    for i, pick in enumerate(picks):
        side = int(IMAGE_SIZE * rng.uniform(3, 4))
        glyph = cv2.resize(glyphs[pick], (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        x = i * slot + (slot - side) // 2 + int(rng.integers(-(slot - side) // 4, (slot - side) // 4 + 1))
        y = int(rng.integers(20, height - side - 20))
        ink[y:y + side, x:x + side] = glyph
    return ink, [int(labels[p]) for p in picks]


def font_glyphs():
    """Digits 0-9 typeset MNIST-style (white on black, 28x28): camera load without the MNIST files."""
    glyphs = np.zeros((10, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for digit in range(10):
        cv2.putText(glyphs[digit], str(digit), (7, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    return glyphs, np.arange(10)


# --- timing ---------------------------------------------------------------------------------------------------

def _seconds(fn, repeats):
    for _ in range(max(2, repeats // 10)):  # warm-up: lazy allocations, thread pools, caches
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times


def measure(run_one, run_batch, repeats):
    """{p50, p99} single-image latency in ms and batch-256 throughput in images/s."""
    single = _seconds(run_one, repeats) * 1e3
    batch = _seconds(run_batch, max(3, repeats // 20))
    return {"p50": float(np.percentile(single, 50)), "p99": float(np.percentile(single, 99)),
            "throughput": BATCH / float(np.median(batch))}


def _session(model):
    return ort.InferenceSession(model, session_options(), providers=[CPU])


def _onnx_runner(session):
    return lambda x: session.run(None, {INPUT_NAME: x})


def zoo_classifier():
    """ONNX bytes of the model zoo's MNIST classifier shape: conv 8@5x5 -> pool -> conv 16@5x5 -> pool -> FC 10.

    Random weights: it is a yardstick for time, not accuracy. None when the `onnx` package is missing.
    """
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    weights = {"w1": (8, 1, 5, 5), "b1": (8,), "w2": (16, 8, 5, 5), "b2": (16,), "w3": (256, 10), "b3": (10,)}
    initializers = [numpy_helper.from_array((0.1 * rng.standard_normal(s)).astype(np.float32), n)
                    for n, s in weights.items()]
    initializers.append(numpy_helper.from_array(np.array([-1, 256], np.int64), "flat_shape"))
    node = helper.make_node
    nodes = [
        node("Conv", [INPUT_NAME, "w1", "b1"], ["c1"], kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
        node("Relu", ["c1"], ["r1"]),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),  # 14x14
        node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[5, 5], auto_pad="SAME_UPPER"),
        node("Relu", ["c2"], ["r2"]),
        node("MaxPool", ["r2"], ["p2"], kernel_shape=[3, 3], strides=[3, 3]),  # 4x4, as in the zoo model
        node("Reshape", ["p2", "flat_shape"], ["flat"]),
        node("Gemm", ["flat", "w3", "b3"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "mnist_zoo_shape",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime this package supports
    return model.SerializeToString()


def bench_onnx(manifest, pipeline, repeats, batch, attacked):
    """Rows (name, figures) for each ONNX model, the Pipeline (on clean digits, and on attacked ones that take
    the flagged path), pipeline.onnx and the zoo-shaped classifier."""
    one = batch[:1]
    rows = []
    for name in [n for n in (*MODEL_NAMES, "screen") if n in manifest.models]:
        run = _onnx_runner(_session(str(manifest.verify(name))))
        rows.append((f"onnx {name}", measure(lambda: run(one), lambda: run(batch), repeats)))
    for kind, images in (("clean", batch), ("attacked", attacked)):
        rows.append((f"Pipeline.predict {kind}",
                     measure(lambda: pipeline.predict(images[:1]), lambda: pipeline.predict(images), repeats)))
    if "pipeline" in manifest.models:
        run = _onnx_runner(_session(str(manifest.verify("pipeline"))))
        rows.append(("onnx pipeline.onnx (fused)", measure(lambda: run(one), lambda: run(batch), repeats)))
    zoo = zoo_classifier()
    if zoo is not None:
        run = _onnx_runner(_session(zoo))
        rows.append(("onnx zoo-shaped classifier", measure(lambda: run(one), lambda: run(batch), repeats)))
    return rows


def rss_mb():
    """Resident memory now (Linux /proc); the peak from getrusage elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_camera(pipeline, frames):
    """Frames/s of the camera path (decode -> locate -> pipeline -> overlay) and RSS after warm-up vs at the end."""
    warmup = min(100, max(1, frames // 10))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.mp4"
        write_video(video, *font_glyphs(), frames=warmup + frames)
        stream = camera.process_stream(pipeline, camera.open_source(video))
        digits_seen = 0
        for index, frame, digits in stream:
            camera.draw_overlay(frame, digits)
            digits_seen += len(digits)
            if index + 1 == warmup:
                rss_start, start = rss_mb(), time.perf_counter()
        elapsed = time.perf_counter() - start
    return {"fps": frames / elapsed, "frames": frames, "digits_per_frame": digits_seen / (warmup + frames),
            "rss_start": rss_start, "rss_end": rss_mb()}


# --- report ---------------------------------------------------------------------------------------------------

def _print_rows(rows):
    print(f"{'model':34} {'p50 ms':>9} {'p99 ms':>9} {'batch-256 img/s':>16}")
    for name, m in rows:
        print(f"{name:34} {m['p50']:9.3f} {m['p99']:9.3f} {m['throughput']:16.0f}")


def add_parser(subparsers):
    add_options(verb_parser(subparsers, "bench", help="latency, throughput and camera frames/s against the targets",
                            description=__doc__.splitlines()[0]))


def add_options(p):
    p.add_argument("--artifacts", default=None, help="folder of exported models (default: the packaged ones)")
    p.add_argument("--frames", type=int, default=2000, help="camera frames to time after warm-up (default: 2000)")
    p.add_argument("--repeats", type=int, default=300, help="single-image runs per latency figure (default: 300)")
    return p


def run(args, eager=None) -> int:
    """The whole benchmark; `eager(repeats, batch) -> rows` adds PyTorch timings (`python -m digitguard.export.bench`)."""
    manifest = Manifest.load(args.artifacts)
    pipeline = Pipeline.load(manifest.folder)
    clean, attacked, _ = load_samples(manifest.folder)  # real digits: random noise would take the flagged path
    batch, attacked = (np.resize(images, (BATCH, 1, IMAGE_SIZE, IMAGE_SIZE)) for images in (clean, attacked))
    print(f"digitguard bench: onnxruntime {ort.__version__} on CPU, artifacts {manifest.folder}, "
          f"repeats {args.repeats}")

    rows = bench_onnx(manifest, pipeline, args.repeats, batch, attacked)
    if eager:
        rows += eager(args.repeats, batch)
    else:
        print("eager: not measured here (the runtime has no torch); `python -m digitguard.export.bench` adds it")
    _print_rows(rows)
    figures = dict(rows)
    for name in MODEL_NAMES:
        if f"torch eager {name}" in figures:
            eager, onnx = figures[f"torch eager {name}"], figures[f"onnx {name}"]
            print(f"speed-up onnx vs eager, {name}: p50 x{eager['p50'] / onnx['p50']:.2f}, "
                  f"batch x{onnx['throughput'] / eager['throughput']:.2f}")

    cam = bench_camera(pipeline, args.frames)
    growth = cam["rss_end"] - cam["rss_start"]
    print(f"camera path: {cam['frames']} frames of {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, "
          f"{cam['digits_per_frame']:.1f} digits/frame, {cam['fps']:.1f} frames/s; "
          f"RSS {cam['rss_start']:.1f} MB -> {cam['rss_end']:.1f} MB ({growth:+.1f} MB)")

    checks = [("camera frames/s", cam["fps"], f">= {TARGET_FPS:g}", cam["fps"] >= TARGET_FPS),
              ("camera RSS growth MB", growth, f"<= {TARGET_RSS_GROWTH_MB:g}", growth <= TARGET_RSS_GROWTH_MB)]
    if "onnx zoo-shaped classifier" in figures:
        zoo = figures["onnx zoo-shaped classifier"]["p50"]
        ratio = figures["Pipeline.predict clean"]["p50"] / zoo
        checks.insert(0, ("pipeline p50 / zoo classifier p50", ratio, f"<= {TARGET_RATIO:g}", ratio <= TARGET_RATIO))
        # what a clean image costs before any Python: the fused screen.onnx, or the two models it fuses
        clean_path = ["screen"] if "screen" in pipeline.models else ["detector", pipeline.policy.classifier]
        if all(f"onnx {name}" in figures for name in clean_path):
            floor = sum(figures[f"onnx {name}"]["p50"] for name in clean_path) / zoo
            print(f"the clean path's models alone ({' + '.join(clean_path)}): p50 x{floor:.2f} the zoo classifier")
    else:
        print("zoo classifier: skipped (the `onnx` package is not installed)")
    print(f"\n{'target':36} {'measured':>10} {'goal':>8}  met")
    for name, value, goal, met in checks:
        print(f"{name:36} {value:10.2f} {goal:>8}  {'yes' if met else 'NO'}")
    return 0
