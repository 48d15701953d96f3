"""`digitguard bench` smoke run: tiny repeats and frames; it must print every figure (no timing asserted)."""
from digitguard.runtime.cli import main


def test_bench_prints_every_figure(quick_artifacts, quick_checkpoints, capsys):
    code = main(["bench", "--artifacts", str(quick_artifacts), "--checkpoints", str(quick_checkpoints),
                 "--repeats", "5", "--frames", "10"])
    out = capsys.readouterr().out
    assert code == 0
    for model in ("baseline", "detector", "purifier", "mitigation"):
        assert f"onnx {model} " in out
        # eager is optional: checkpoints of another architecture version are skipped with a note
        assert f"torch eager {model} " in out or "eager: skipped (checkpoints" in out
    for figure in ("Pipeline.predict clean", "Pipeline.predict attacked", "pipeline.onnx (fused)",
                   "zoo-shaped classifier", "frames/s", "RSS", "pipeline p50 / zoo classifier p50",
                   "camera RSS growth MB"):
        assert figure in out, figure
