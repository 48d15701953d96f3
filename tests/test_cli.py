"""The digitguard command: predict on folders with bad files, --json, demo, info, --help, options and exit codes."""
import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitguard.runtime import Pipeline, imagefile
from digitguard.runtime.cli import VERBS, main
from digitguard.runtime.commands import info, predict
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
    assert main(["info", "--artifacts", str(copy)]) == 2  # a setup error, as --help says
    assert "baseline.onnx: sha256 mismatch" in capsys.readouterr().out


def test_info_refuses_a_manifest_predict_refuses(shipped_artifacts, tmp_path, capsys):
    copy = shutil.copytree(shipped_artifacts, tmp_path / "artifacts")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["policy"]["classifier"] = "no-such-model"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", str(copy / "samples"), "--artifacts", str(copy)]) == 2
    predict_says = capsys.readouterr().err
    assert main(["info", "--artifacts", str(copy)]) == 2
    assert "no-such-model" in predict_says and "no-such-model" in capsys.readouterr().out


def test_help_documents_exit_codes_for_every_verb():
    assert list(VERBS) == ["predict", "camera", "demo", "info", "bench"]
    for verb in ([], *([name] for name in VERBS)):
        done = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", *verb, "--help"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and EXIT_CODES in done.stdout, (verb, done.stderr)


@pytest.mark.parametrize("argv", [
    ["camera", "--timeout", "-1"], ["camera", "--timeout", "nan"], ["camera", "--timeout", "inf"],
    ["camera", "--timeout", "0"], ["camera", "--timeout", "soon"], ["camera", "--max-frames", "-1"],
    ["camera", "--max-frames", "0"], ["camera", "--max-frames", "2.5"], ["bench", "--frames", "0"],
    ["bench", "--repeats", "-3"],
], ids=" ".join)
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"argument {argv[1]}: {argv[2]!r} is not" in capsys.readouterr().err  # argparse's message, no traceback


def test_a_bug_is_an_internal_error_not_exit_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something digitguard did not expect")

    monkeypatch.setattr(info, "run", broken)  # the verb, broken; main is what is tested
    assert main(["info"]) == 3
    err = capsys.readouterr().err
    assert "digitguard info: internal error: RuntimeError: something digitguard did not expect" in err
    assert "test_cli.py" in err and "Traceback" not in err  # where it happened, in one line
    assert "3    internal error" in EXIT_CODES


def test_ctrl_c_is_exit_130_without_a_traceback(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "run", interrupted)
    assert main(["info"]) == 130
    assert capsys.readouterr().err == "digitguard info: interrupted\n"


def test_output_closed_early_stops_quietly(folder, shipped_artifacts, monkeypatch, capsys):
    reader, writer = os.pipe()
    os.close(reader)  # like `digitguard predict ... | head` once head has had enough
    with open(writer, "w") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(["predict", str(folder), "--artifacts", str(shipped_artifacts)]) == 141
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_empty_folder_and_pattern_fail_with_a_message(shipped_artifacts, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.txt").write_text("no images here")
    sources = [tmp_path / "empty", tmp_path / "notes", tmp_path / "empty" / "*.png"]
    assert main(["predict", *map(str, sources), "--artifacts", str(shipped_artifacts), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == list(map(str, sources))
    assert "no image files in this folder" in lines[0]["error"] and "--recursive" in lines[0]["error"]
    assert "no image files match this pattern" in lines[2]["error"]


def test_recursive_reads_subfolders_and_every_format(shipped_artifacts, tmp_path, capsys):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    paper = 255 - cv2.resize(drawn_digit("4"), (84, 84))
    cv2.imwrite(str(tmp_path / "top.png"), paper)
    cv2.imwrite(str(tmp_path / "a" / "scan.gif"), cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR))  # OpenCV writes colour GIF
    cv2.imwrite(str(nested / "deep.pgm"), paper)
    argv = ["predict", str(tmp_path), "--artifacts", str(shipped_artifacts), "--json"]
    assert main(argv) == 0
    assert [json.loads(line)["source"] for line in capsys.readouterr().out.splitlines()] == [str(tmp_path / "top.png")]
    assert main(argv + ["--recursive"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == [str(tmp_path / p) for p in ("a/b/deep.pgm", "a/scan.gif", "top.png")]
    assert [line["label"] for line in lines] == [4, 4, 4]


def test_folders_pick_every_format_read_image_reads(shipped_artifacts, tmp_path, capsys):
    # folders pick the suffixes each format of read_image lists, every one of them a file it reads
    assert predict.IMAGE_SUFFIXES is imagefile.IMAGE_SUFFIXES and all(f.suffixes for f in imagefile.FORMATS.values())
    paper = 255 - cv2.resize(drawn_digit("7"), (84, 84))
    for suffix in imagefile.IMAGE_SUFFIXES:
        colour = suffix in (".gif", ".ppm")  # OpenCV writes these from colour only
        image = cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR) if colour else paper
        assert cv2.imwrite(str(tmp_path / f"seven{suffix}"), image)
    assert main(["predict", str(tmp_path), "--artifacts", str(shipped_artifacts), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(Path(line["source"]).suffix for line in lines) == sorted(imagefile.IMAGE_SUFFIXES)
    assert {line["label"] for line in lines} == {7}


def test_no_digit_is_reported_with_its_file(shipped_artifacts, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200), 255, np.uint8))
    assert main(["predict", str(tmp_path / "blank.png"), "--artifacts", str(shipped_artifacts)]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith(str(tmp_path / "blank.png")) and "no digit found" in row


def test_table_prints_file_names_that_are_not_utf8(shipped_artifacts, tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b"scan-\xff\xfe.png")  # valid on Linux, not UTF-8
    with open(name, "wb") as f:
        f.write(cv2.imencode(".png", 255 - cv2.resize(drawn_digit("7"), (84, 84)))[1].tobytes())
    done = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", "predict", str(tmp_path),
                           "--artifacts", str(shipped_artifacts)], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    row = done.stdout.decode("utf-8").splitlines()[1]  # the output is valid UTF-8 too
    assert row.startswith(os.path.join(str(tmp_path), "scan-\\udcff\\udcfe.png")) and row.split()[1] == "7"


@pytest.fixture
def many_files(tmp_path, monkeypatch):
    """Ten copies of a digit, read in chunks of four: three pipeline calls."""
    monkeypatch.setattr(predict, "CHUNK", 4)
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"digit{i:02}.png"), 255 - cv2.resize(drawn_digit("7"), (84, 84)))
    return tmp_path


def test_many_files_are_read_in_chunks_and_printed_as_they_come(many_files, shipped_artifacts, monkeypatch, capsys):
    real_predict, seen = Pipeline.predict, []

    def recording(pipeline, items):  # the real predict, noting what it was given and what was printed before
        seen.append((len(items), len(capsys.readouterr().out.splitlines())))
        return real_predict(pipeline, items)

    monkeypatch.setattr(Pipeline, "predict", recording)
    assert main(["predict", str(many_files), "--artifacts", str(shipped_artifacts), "--json"]) == 0
    assert seen == [(4, 0), (4, 4), (2, 4)]  # no call holds more than a chunk; each chunk printed before the next


def test_progress_on_a_terminal(many_files, shipped_artifacts, monkeypatch, capsys):
    leader, follower = os.openpty()
    with os.fdopen(leader, "rb", buffering=0) as screen:
        with open(follower, "w") as terminal:
            monkeypatch.setattr(sys, "stderr", terminal)
            assert main(["predict", str(many_files), "--artifacts", str(shipped_artifacts)]) == 0
            monkeypatch.undo()
        shown = b""
        while select.select([screen], [], [], 10)[0]:  # the terminal is closed: read what it showed, to the end
            try:
                data = screen.read(65536)
            except OSError:  # EIO: all read
                break
            if not data:
                break
            shown += data
    assert shown.decode().replace("\r\n", "\n") == "\r4/10 files read\r8/10 files read\r10/10 files read\n"
    assert len(capsys.readouterr().out.splitlines()) == 11  # the table is unchanged on stdout
