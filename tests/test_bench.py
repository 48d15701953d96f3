"""Benchmark smoke runs: tiny repeats and frames; every figure must be printed (no timing asserted)."""
from digitguard.export.bench import main as bench_with_eager
from digitguard.runtime.cli import main

FIGURES = ("Pipeline.predict clean", "Pipeline.predict attacked", "pipeline.onnx (fused)", "zoo-shaped classifier",
           "frames/s", "RSS", "pipeline p50 / zoo classifier p50", "camera RSS growth MB",
           "the clean path's models alone (screen)")


def test_runtime_bench_prints_every_figure(quick_artifacts, capsys):
    code = main(["bench", "--artifacts", str(quick_artifacts), "--repeats", "5", "--frames", "10"])
    out = capsys.readouterr().out
    assert code == 0
    for model in ("baseline", "detector", "purifier", "mitigation"):
        assert f"onnx {model} " in out
    for figure in FIGURES:
        assert figure in out, figure
    assert "eager: not measured here" in out


def test_bench_with_eager_puts_torch_beside_onnx(quick_artifacts, quick_checkpoints, capsys):
    code = bench_with_eager(["--artifacts", str(quick_artifacts), "--checkpoints", str(quick_checkpoints),
                             "--repeats", "5", "--frames", "10"])
    out = capsys.readouterr().out
    assert code == 0
    for model in ("baseline", "detector", "purifier", "mitigation"):
        assert f"torch eager {model} " in out and f"speed-up onnx vs eager, {model}" in out
