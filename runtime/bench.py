"""Latency, throughput and camera frames/s, all measured side by side in one run, returned as `Figures`.

onnxruntime (CPU) runs each exported model, the whole Pipeline and the fused pipeline.onnx; the yardsticks
are a classifier shaped like the ONNX model zoo's MNIST model (`zoo.onnx`, shipped with the models) and the
same weights in PyTorch eager (`python -m digitguard.export.bench`, which has torch). `to_mnist` is timed
on a 640x480 photo of one digit (the preprocessing budget); the camera path times 640x480 frames of generated
footage through locate -> pipeline -> overlay and watches the memory over the run.
`digitguard bench` prints the figures; nothing here prints.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from . import video
from .contract import IMAGE_SIZE, INPUT_NAME, MODEL_NAMES
from .footage import FRAME_SIZE, font_glyphs, still, write_video
from .manifest import Manifest, load_samples
from .pipeline import Pipeline
from .preprocess import to_mnist
from .sessions import CPU, session_options

BATCH = 256
ZOO = "zoo"  # the manifest's name for the zoo-shaped yardstick classifier
PIPELINE_CLEAN, PIPELINE_ATTACKED = "Pipeline.predict clean", "Pipeline.predict attacked"  # rows of the timings
ZOO_ROW = "onnx zoo-shaped classifier"
PREPROCESS_ROW = f"to_mnist {FRAME_SIZE[0]}x{FRAME_SIZE[1]} photo"


@dataclass(frozen=True)
class Timing:
    p50: float  # single-image latency, ms
    p99: float  # ms
    throughput: float  # images/s in batches of BATCH


@dataclass(frozen=True)
class CameraFigures:
    fps: float  # frames/s after warm-up
    frames: int  # frames timed
    digits_per_frame: float
    rss_start: float  # resident memory after warm-up, MB
    rss_end: float  # MB

    @property
    def rss_growth(self) -> float:
        return self.rss_end - self.rss_start


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    at_least: bool  # met when measured >= limit; else when measured <= limit
    measured: float | None  # None: not measured in this run (Figures.notes says why)

    @property
    def met(self) -> bool:
        if self.measured is None:
            return False
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    @property
    def goal(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}"


@dataclass(frozen=True)
class Figures:
    artifacts: Path
    timings: dict  # row name -> Timing, in the order measured
    camera: CameraFigures
    ratios: dict  # name -> one figure divided by another, both in `timings`
    targets: list  # Target, in the order of the README's latency budget
    notes: list  # what could not be measured, and why


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


def measure(run_one, run_batch, repeats) -> Timing:
    """p50 and p99 single-image latency of `run_one()`, throughput of `run_batch()` on BATCH images."""
    single = _seconds(run_one, repeats) * 1e3
    batch = _seconds(run_batch, max(3, repeats // 20))
    return Timing(float(np.percentile(single, 50)), float(np.percentile(single, 99)), BATCH / float(np.median(batch)))


def _onnx_timing(path, one, batch, repeats) -> Timing:
    session = ort.InferenceSession(str(path), session_options(), providers=[CPU])
    return measure(lambda: session.run(None, {INPUT_NAME: one}), lambda: session.run(None, {INPUT_NAME: batch}),
                   repeats)


def time_models(manifest, pipeline, repeats, batch, attacked) -> dict:
    """Row name -> Timing for each ONNX model, the Pipeline (on clean digits, and on attacked ones that take
    the flagged path), pipeline.onnx and the zoo-shaped classifier, when the manifest lists it."""
    one = batch[:1]
    rows = {f"onnx {name}": _onnx_timing(manifest.verify(name), one, batch, repeats)
            for name in (*MODEL_NAMES, "screen") if name in manifest.models}
    for row, images in ((PIPELINE_CLEAN, batch), (PIPELINE_ATTACKED, attacked)):
        first = images[:1]  # sliced once, as `one` is for the models' rows: slicing is not the pipeline's cost
        rows[row] = measure(lambda: pipeline.predict(first), lambda: pipeline.predict(images), repeats)
    if "pipeline" in manifest.models:
        rows["onnx pipeline.onnx (fused)"] = _onnx_timing(manifest.verify("pipeline"), one, batch, repeats)
    if ZOO in manifest.models:
        rows[ZOO_ROW] = _onnx_timing(manifest.verify(ZOO), one, batch, repeats)
    return rows


def time_preprocess(glyph, repeats) -> Timing:
    """`to_mnist` on a 640x480 photo of `glyph`; its "batch" is BATCH calls, one photo after another."""
    photo = still(glyph)
    return measure(lambda: to_mnist(photo), lambda: [to_mnist(photo) for _ in range(BATCH)], repeats)


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory in MB from Linux's /proc: now (VmRSS), or this process's own peak (VmHWM, which starts
    afresh at exec, unlike getrusage's ru_maxrss, which a child inherits from its parent). Elsewhere the peak
    from getrusage."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_camera(pipeline, frames) -> CameraFigures:
    """Frames/s of the camera path (decode -> locate -> pipeline -> overlay) and RSS after warm-up vs at the end."""
    warmup = min(100, max(1, frames // 10))
    with tempfile.TemporaryDirectory() as tmp:
        footage = Path(tmp) / "bench.mp4"
        write_video(footage, *font_glyphs(), frames=warmup + frames)
        digits_seen = 0
        for index, frame, digits in video.process_stream(pipeline, video.open_source(footage)):
            video.draw_overlay(frame, digits)
            digits_seen += len(digits)
            if index + 1 == warmup:
                rss_start, start = rss_mb(), time.perf_counter()
        elapsed = time.perf_counter() - start
    return CameraFigures(frames / elapsed, frames, digits_seen / (warmup + frames), rss_start, rss_mb())


# --- figures --------------------------------------------------------------------------------------------------

def clean_path(pipeline) -> list:
    """The models a clean image costs before any Python: the fused screen.onnx, or the two models it fuses."""
    return ["screen"] if "screen" in pipeline.models else ["detector", pipeline.policy.classifier]


def benchmark(artifacts=None, frames=2000, repeats=1000, eager=None) -> Figures:
    """Every figure of one run; `eager(repeats, batch) -> {row: Timing}` adds PyTorch timings
    (`python -m digitguard.export.bench`)."""
    manifest = Manifest.load(artifacts)
    pipeline = Pipeline.load(manifest.folder)
    clean, attacked, _ = load_samples(manifest.folder)  # real digits: random noise would take the flagged path
    batch, attacked = (np.resize(images, (BATCH, 1, IMAGE_SIZE, IMAGE_SIZE)) for images in (clean, attacked))
    timings = time_models(manifest, pipeline, repeats, batch, attacked)
    timings[PREPROCESS_ROW] = time_preprocess(clean[0].reshape(IMAGE_SIZE, IMAGE_SIZE), repeats)
    notes = []
    if eager:
        timings.update(eager(repeats, batch))
    else:
        notes.append("eager: not measured here (the runtime has no torch); `python -m digitguard.export.bench` adds it")
    if ZOO not in manifest.models:
        notes.append(f"zoo classifier: missing (the manifest lists no model {ZOO!r}; "
                     "`python -m digitguard.export` writes zoo.onnx)")
    camera = time_camera(pipeline, frames)

    p50 = {row: t.p50 for row, t in timings.items()}
    models = [f"onnx {name}" for name in clean_path(pipeline)]
    models_p50 = sum(p50[row] for row in models) if all(row in p50 for row in models) else None
    ratios = {}
    for name in MODEL_NAMES:
        if f"torch eager {name}" in timings:
            onnx, torch = timings[f"onnx {name}"], timings[f"torch eager {name}"]
            ratios[f"{name} p50 eager / onnx"] = torch.p50 / onnx.p50
            ratios[f"{name} batch onnx / eager"] = onnx.throughput / torch.throughput
    if ZOO_ROW in p50:
        ratios["Pipeline.predict clean p50 / zoo p50"] = p50[PIPELINE_CLEAN] / p50[ZOO_ROW]
        if models_p50 is not None:
            ratios[f"{' + '.join(clean_path(pipeline))} p50 / zoo p50"] = models_p50 / p50[ZOO_ROW]
    overhead = None if models_p50 is None else (p50[PIPELINE_CLEAN] - models_p50) * 1e3
    targets = [
        Target("pipeline p50 ms", 0.4, False, p50[PIPELINE_CLEAN]),
        Target("pipeline p50 / zoo classifier p50", 12.0, False, ratios.get("Pipeline.predict clean p50 / zoo p50")),
        Target("Python overhead per image us", 25.0, False, overhead),
        Target("camera frames/s", 200.0, True, camera.fps),
        Target("camera RSS growth MB", 10.0, False, camera.rss_growth),  # "flat": allocator and cache noise
        Target("batch-256 images/s", 10_000.0, True, timings[PIPELINE_CLEAN].throughput),
        Target("preprocess 640x480 p50 ms", 1.0, False, p50[PREPROCESS_ROW]),
    ]
    return Figures(manifest.folder, timings, camera, ratios, targets, notes)
