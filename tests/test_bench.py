"""digitguard bench: its figures checked as numbers (tiny runs: no timing is asserted), and the verb printing them."""
import json
import math
import shutil

import pytest

from digitguard.export.bench import main as bench_with_eager
from digitguard.runtime import Pipeline, bench
from digitguard.runtime.footage import still
from digitguard.runtime.manifest import load_samples
from digitguard.runtime.cli import main

RUN = {"frames": 10, "repeats": 5}
ONNX_ROWS = ["onnx baseline", "onnx detector", "onnx purifier", "onnx mitigation", "onnx screen"]
PIPELINE_ROWS = ["Pipeline.predict clean", "Pipeline.predict attacked", "onnx pipeline.onnx (fused)"]
TARGETS = ["pipeline p50 ms", "pipeline p50 / zoo classifier p50", "Python overhead per image us", "camera frames/s",
           "camera RSS growth MB", "batch-256 images/s", "preprocess 640x480 p50 ms"]


def _copy(shipped, tmp_path, zoo):
    """The shipped models, with a zoo yardstick or without one whatever export has shipped. Where one is wanted,
    the baseline classifier stands in (same input and output names): these tests check arithmetic, not speed."""
    copy = shutil.copytree(shipped, tmp_path / "artifacts", ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["models"].pop(bench.ZOO, None)
    if zoo:
        shutil.copy(copy / "baseline.onnx", copy / "zoo.onnx")
        manifest["models"][bench.ZOO] = dict(manifest["models"]["baseline"], file="zoo.onnx")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.fixture(scope="module")
def with_zoo(shipped_artifacts, tmp_path_factory):
    return _copy(shipped_artifacts, tmp_path_factory.mktemp("with_zoo"), zoo=True)


@pytest.fixture(scope="module")
def figures(with_zoo):
    return bench.benchmark(with_zoo, **RUN)


def test_every_figure_is_a_finite_positive_number(figures):
    assert list(figures.timings) == ONNX_ROWS + PIPELINE_ROWS + [bench.ZOO_ROW, bench.PREPROCESS_ROW]
    for row, timing in figures.timings.items():
        assert all(math.isfinite(v) and v > 0 for v in (timing.p50, timing.p99, timing.throughput)), row
        assert timing.p50 <= timing.p99, row
    camera = figures.camera
    assert camera.frames == RUN["frames"] and math.isfinite(camera.fps) and camera.fps > 0
    assert 2 <= camera.digits_per_frame <= 4  # the footage shows 2-4 digits a frame
    assert camera.rss_start > 0 and camera.rss_end > 0 and camera.rss_growth == camera.rss_end - camera.rss_start
    assert [note.split(":")[0] for note in figures.notes] == ["eager"]  # the runtime has no torch; nothing else missing


def test_ratios_are_quotients_of_the_figures(figures):
    p50 = {row: timing.p50 for row, timing in figures.timings.items()}
    assert figures.ratios == {
        "Pipeline.predict clean p50 / zoo p50": p50["Pipeline.predict clean"] / p50[bench.ZOO_ROW],
        "screen p50 / zoo p50": p50["onnx screen"] / p50[bench.ZOO_ROW],
    }


def test_targets_measure_the_figures_and_say_whether_they_are_met(figures):
    clean = figures.timings["Pipeline.predict clean"]
    assert [t.name for t in figures.targets] == TARGETS
    measured = {t.name: t.measured for t in figures.targets}
    assert measured == {
        "pipeline p50 ms": clean.p50,
        "pipeline p50 / zoo classifier p50": figures.ratios["Pipeline.predict clean p50 / zoo p50"],
        "Python overhead per image us": pytest.approx((clean.p50 - figures.timings["onnx screen"].p50) * 1e3),
        "camera frames/s": figures.camera.fps,
        "camera RSS growth MB": figures.camera.rss_growth,
        "batch-256 images/s": clean.throughput,
        "preprocess 640x480 p50 ms": figures.timings[bench.PREPROCESS_ROW].p50,
    }
    goals = {t.name: t.goal for t in figures.targets}
    assert goals == {"pipeline p50 ms": "<= 0.4", "pipeline p50 / zoo classifier p50": "<= 12",
                     "Python overhead per image us": "<= 25", "camera frames/s": ">= 200",
                     "camera RSS growth MB": "<= 10", "batch-256 images/s": ">= 10000",
                     "preprocess 640x480 p50 ms": "<= 1"}
    for t in figures.targets:
        assert t.met == (t.measured >= t.limit if t.at_least else t.measured <= t.limit), t


def test_missing_zoo_is_reported_not_skipped(shipped_artifacts, tmp_path):
    figures = bench.benchmark(_copy(shipped_artifacts, tmp_path, zoo=False), **RUN)
    assert bench.ZOO_ROW not in figures.timings and figures.ratios == {}
    assert any("zoo classifier: missing" in note for note in figures.notes)
    ratio = next(t for t in figures.targets if t.name == "pipeline p50 / zoo classifier p50")
    assert ratio.measured is None and not ratio.met


def test_verb_prints_every_figure_and_target(with_zoo, capsys):
    assert main(["bench", "--artifacts", str(with_zoo), "--repeats", "5", "--frames", "10"]) == 0
    out = capsys.readouterr().out
    rows = ONNX_ROWS + PIPELINE_ROWS + [bench.ZOO_ROW, bench.PREPROCESS_ROW]
    for row in rows + ["frames/s", "RSS", "screen p50 / zoo p50: x"]:
        assert row in out, row
    targets = out.split("\ntarget")[1].splitlines()[1:]
    assert [line[:36].strip() for line in targets] == TARGETS
    assert all(line.split()[-1] in ("yes", "NO") for line in targets)
    assert "eager: not measured here" in out


def test_bench_with_eager_puts_torch_beside_onnx(quick_artifacts, quick_checkpoints, capsys):
    code = bench_with_eager(["--artifacts", str(quick_artifacts), "--checkpoints", str(quick_checkpoints),
                             "--repeats", "5", "--frames", "10"])
    out = capsys.readouterr().out
    assert code == 0
    for model in ("baseline", "detector", "purifier", "mitigation"):
        assert f"torch eager {model} " in out and f"{model} p50 eager / onnx: x" in out


def test_preprocessing_is_timed_on_a_photo_the_pipeline_reads(shipped_artifacts):
    """The timed 640x480 photo is a real input: every demo sample photographed that way is read right."""
    clean, _, labels = load_samples(shipped_artifacts)
    photos = [still(glyph.reshape(28, 28)) for glyph in clean]
    assert all(photo.shape == (480, 640, 3) for photo in photos)
    assert [r.label for r in Pipeline.load(shipped_artifacts).predict(photos)] == labels.tolist()
