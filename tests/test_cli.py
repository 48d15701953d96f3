"""The digitguard command: predict on folders with bad files, --json, demo, info, --help and exit codes."""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from digitguard.runtime import Pipeline
from digitguard.runtime.cli import VERBS, main
from digitguard.runtime.commands.common import EXIT_CODES
from digitguard.runtime.manifest import load_samples
from tests.helpers.images import drawn_digit


@pytest.fixture
def folder(tmp_path):
    """Three readable digits, a text file named .png, and a non-image file the folder scan skips."""
    for d in "147":
        cv2.imwrite(str(tmp_path / f"digit{d}.png"), 255 - cv2.resize(drawn_digit(d), (84, 84)))
    (tmp_path / "broken.png").write_text("not a png")
    (tmp_path / "README.txt").write_text("not an input")
    return tmp_path


def test_predict_folder_reports_the_bad_file_and_reads_the_others(folder, shipped_artifacts, capsys):
    assert main(["predict", str(folder), "--artifacts", str(shipped_artifacts), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {line["source"].rsplit("/", 1)[-1]: line for line in lines}
    assert sorted(by_name) == ["broken.png", "digit1.png", "digit4.png", "digit7.png"]
    assert "broken.png" in by_name["broken.png"]["error"]
    for name in ("digit1.png", "digit4.png", "digit7.png"):
        line = by_name[name]
        assert {"label", "confidence", "adversarial_score", "flagged", "purified", "classifier"} <= set(line)
        assert 0 <= line["label"] < 10 and "error" not in line


def test_predict_table_and_exit_code_0(folder, shipped_artifacts, capsys):
    (folder / "broken.png").unlink()
    assert main(["predict", str(folder / "digit*.png"), "--artifacts", str(shipped_artifacts),
                 "--classifier", "baseline", "--flagged-classifier", "mitigation"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["source", "label", "confidence", "adversarial", "flagged", "purified", "classifier"]
    rows = [line.split() for line in out[1:]]
    assert [row[0].rsplit("/", 1)[-1] for row in rows] == ["digit1.png", "digit4.png", "digit7.png"]
    for (source, label, _, _, flagged, purified, classifier), digit in zip(rows, "147"):
        assert label == digit and purified == "no"
        assert classifier == ("mitigation" if flagged == "yes" else "baseline")  # the policy's two paths


def test_setup_errors_exit_2_with_a_message(folder, tmp_path, capsys):
    assert main(["predict", str(folder), "--artifacts", str(tmp_path / "none")]) == 2
    assert "manifest.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["predict"])  # argparse: SOURCE is required
    assert exit_.value.code == 2


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def test_demo_shows_every_stage(shipped_artifacts, capsys):
    """One row per sample whose flag, classifier and final label are what the pipeline answers, and totals that
    add the rows up."""
    assert main(["demo", "--artifacts", str(shipped_artifacts)]) == 0
    out = capsys.readouterr().out.splitlines()
    clean, attacked, labels = load_samples(shipped_artifacts)
    results = Pipeline.load(shipped_artifacts).predict(np.concatenate([clean, attacked]))
    rows = [line.split() for line in out if line.startswith(("clean ", "attacked "))]
    assert [row[0] for row in rows] == ["clean"] * len(clean) + ["attacked"] * len(attacked)
    for row, result, true in zip(rows, results, np.concatenate([labels, labels])):
        assert int(row[1]) == true and row[-5:-2] == [_yes(result.flagged), _yes(result.purified), result.classifier]
        assert row[-2:] == [str(result.label), "ok" if result.label == true else "WRONG"]
    for kind, summary in zip(("clean", "attacked"), out[-2:]):
        part = [row for row in rows if row[0] == kind]
        right, flagged = sum(row[-1] == "ok" for row in part), sum(row[-5] == "yes" for row in part)
        assert summary.startswith(f"{kind}: ")
        assert f"digitguard {right}/{len(part)} right, {flagged}/{len(part)} flagged" in summary


def test_demo_without_samples_says_so(shipped_artifacts, tmp_path, capsys):
    copy = shutil.copytree(shipped_artifacts, tmp_path / "artifacts", ignore=shutil.ignore_patterns("samples"))
    assert main(["demo", "--artifacts", str(copy)]) == 2
    assert "demo.npz" in capsys.readouterr().err


def test_info_checks_every_model(shipped_artifacts, tmp_path, capsys):
    assert main(["info", "--artifacts", str(shipped_artifacts)]) == 0
    out = capsys.readouterr().out
    models = json.loads((shipped_artifacts / "manifest.json").read_text())["models"]
    assert "onnxruntime providers" in out and out.count("sha256 ok") == len(models)
    copy = shutil.copytree(shipped_artifacts, tmp_path / "artifacts")
    (copy / "baseline.onnx").write_bytes(b"tampered")
    assert main(["info", "--artifacts", str(copy)]) == 1
    assert "baseline.onnx: sha256 mismatch" in capsys.readouterr().out


def test_help_documents_exit_codes_for_every_verb():
    assert list(VERBS) == ["predict", "camera", "demo", "info", "bench"]
    for verb in ([], *([name] for name in VERBS)):
        done = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", *verb, "--help"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and EXIT_CODES in done.stdout, (verb, done.stderr)
