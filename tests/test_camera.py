"""`digitguard camera` on a generated video whose digits and positions are known, and the sources it refuses."""
import json
import os
import socket
import subprocess
import sys
import threading

import cv2
import pytest

from digitguard.runtime import SourceError, StreamTimeout, locate, video
from digitguard.runtime.cli import main
from digitguard.runtime.commands import camera
from tests.helpers.video import make_video

FRAMES = 30


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "digits.mp4"
    return path, make_video(path, frames=FRAMES)


def _argv(source, **options):
    argv = ["camera", "--source", str(source)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def _headless(source, capsys, **options):
    code = main(_argv(source, headless=True, **options))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def _accuracy(lines, truth):
    """(share of frames with the right digit count, share of all true digits read right)."""
    counted = correct = 0
    for line, labels in zip(lines, truth):
        read = [d["label"] for d in line["digits"]]
        counted += len(read) == len(labels)
        correct += sum(a == b for a, b in zip(read, labels)) if len(read) == len(labels) else 0
    return counted / len(truth), correct / sum(len(labels) for labels in truth)


def test_locates_every_digit_without_models(footage):
    path, truth = footage
    capture = cv2.VideoCapture(str(path))
    found = [len(locate.locate_digits(cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2GRAY))) for _ in truth]
    assert sum(f == len(t) for f, t in zip(found, truth)) >= 0.9 * len(truth), (found, truth)


def test_headless_reads_the_video(footage, shipped_artifacts, capsys):
    path, truth = footage
    code, lines, err = _headless(path, capsys, artifacts=shipped_artifacts)
    assert code == 0, err  # the end of the video is a normal end
    assert [line["frame"] for line in lines] == list(range(FRAMES))
    for line in lines:
        assert line["number"] == video.number(line["digits"])
        xs = [d["box"][0] for d in line["digits"]]
        assert xs == sorted(xs)  # read left to right
        for d in line["digits"]:
            assert 0 <= d["label"] <= 9 and 0 <= d["confidence"] <= 1 and isinstance(d["flagged"], bool)
            assert len(d["box"]) == 4
    counted, accuracy = _accuracy(lines, truth)
    assert counted >= 0.9
    assert accuracy >= 0.95


def test_max_frames_and_save(footage, shipped_artifacts, tmp_path, capsys):
    out = tmp_path / "overlay.mp4"
    code, lines, _ = _headless(footage[0], capsys, artifacts=shipped_artifacts, max_frames=5, save=out)
    assert code == 0 and len(lines) == 5
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_unopenable_source_exits_2(tmp_path, capsys):
    code, lines, err = _headless(tmp_path / "missing.mp4", capsys)
    assert code == 2 and not lines
    assert "cannot open video source" in err and "missing.mp4" in err


@pytest.mark.parametrize("source", ["broken.mp4", "7"])
def test_unopenable_source_is_one_line_on_stderr(tmp_path, source):
    """No OpenCV or FFmpeg warnings before digitguard's own error (they write to the process's stderr)."""
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
    run = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", "camera", "--source", source, "--headless"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"digitguard camera: error: cannot open video source '{source}' "
                                       "(no such camera, not a video, or unreachable)"], run.stderr


def test_window_without_gui_suggests_headless(footage, capsys):
    try:
        cv2.namedWindow("probe")
        cv2.destroyAllWindows()
        pytest.skip("this OpenCV has a GUI")
    except cv2.error:
        pass
    assert main(_argv(footage[0])) == 2
    assert "--headless" in capsys.readouterr().err


class StalledCamera:
    """Opens fine, then never delivers a frame (a camera unplugged mid-stream)."""

    def __init__(self):
        self.unblock = threading.Event()

    def read(self):
        self.unblock.wait(timeout=30)  # bounded, so the reader thread ends after the test
        return False, None

    def release(self):
        pass


def test_stalled_source_times_out(shipped_artifacts, monkeypatch, capsys):
    stalled = StalledCamera()
    monkeypatch.setattr(camera, "open_source", lambda source, timeout: stalled)  # the verb's video.open_source
    code, lines, err = _headless("0", capsys, artifacts=shipped_artifacts, timeout=0.3)
    stalled.unblock.set()
    assert code == 1 and not lines
    assert "no frame from the source for 0.3 s" in err


def test_process_stream_raises_on_stall():
    stalled = StalledCamera()
    with pytest.raises(StreamTimeout):
        next(video.process_stream(None, stalled, timeout=0.2))
    stalled.unblock.set()


class DeadCamera:
    """A camera whose reads fail at once (unplugged): a camera has no end, so this is a stall, not the end."""

    def read(self):
        return False, None

    def release(self):
        pass


def test_a_live_camera_that_fails_to_read_has_stalled():
    with pytest.raises(StreamTimeout, match="camera stopped delivering frames"):
        next(video.process_stream(None, DeadCamera(), live=True))
    assert list(video.process_stream(None, DeadCamera(), live=False)) == []  # a file's failed read is its end


def test_source_kinds(footage, tmp_path):
    assert [video.source_kind(s) for s in ("0", "12", "rtsp://example.org/live", "http://127.0.0.1:8/a.mp4",
                                           footage[0])] == ["camera", "camera", "url", "url", "file"]
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "socket"))
        for name, kind in [("fifo", r"a FIFO \(named pipe\)"), ("socket", "a socket"), (".", "a directory")]:
            with pytest.raises(SourceError, match=f"is {kind}, not a camera, video file or URL"):
                video.source_kind(tmp_path / name)
    with pytest.raises(SourceError, match="is a character device"):
        video.source_kind("/dev/null")  # a device, but not a video4linux one


def test_fifo_source_is_refused_not_waited_on(tmp_path):
    """OpenCV opening a FIFO blocks until a writer comes: the guard (no writer ever comes) ends the test anyway."""
    os.mkfifo(tmp_path / "fifo")
    try:
        done = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", "camera", "--source",
                               str(tmp_path / "fifo"), "--headless"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("camera --source FIFO hung")
    assert done.returncode == 2 and "is a FIFO (named pipe), not a camera" in done.stderr
