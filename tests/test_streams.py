"""`digitguard camera` on network streams that stall: a local server (127.0.0.1 only) that accepts and then
stops talking. --timeout must bound opening and reading alike, and a stall must never look like a normal end.

Each run is a child process with a generous guard: OpenCV's own 30 s default would exceed it, and a guard
against hanging is not a timing assertion.
"""
import contextlib
import json
import socket
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

GUARD = 25  # s; shorter than OpenCV's 30 s default, so a --timeout that is ignored fails the test
HTTP_HEADER = b"HTTP/1.0 200 OK\r\nContent-Type: video/x-motion-jpeg\r\n\r\n"


@contextlib.contextmanager
def silent_server(payload: bytes, hold: float = 40):
    """Yield the port of a TCP server on 127.0.0.1 that sends `payload` to each client, then says nothing more.
    Everything is closed when the test is done, or after `hold` s whatever happens."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve():
        clients = []
        deadline = threading.Timer(hold, done.set)
        deadline.start()
        while not done.is_set():
            try:
                client, _ = listener.accept()
                clients.append(client)
                client.sendall(payload)
            except OSError:  # no client yet (timeout), or one that left
                pass
        deadline.cancel()
        for client in clients:
            client.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        server.join()
        listener.close()


def _camera(url, shipped_artifacts):
    try:
        return subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", "camera", "--source", url,
                               "--headless", "--timeout", "1", "--artifacts", str(shipped_artifacts)],
                              capture_output=True, text=True, timeout=GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"camera --timeout 1 was still waiting on the stalled stream after {GUARD} s")


def _frames(count: int) -> bytes:
    """`count` motion-JPEG frames of noisy paper, about 30 KB each."""
    paper = np.random.default_rng(0).normal(180, 6, (240, 320)).clip(0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", paper)[1].tobytes() * count


@pytest.mark.parametrize("payload", [b"", HTTP_HEADER + _frames(10)], ids=["no answer", "part of a video"])
def test_a_stream_that_stalls_while_opening_fails_after_the_timeout(payload, shipped_artifacts):
    """FFmpeg waits for more than 10 frames to recognise the stream: the stall comes while it opens."""
    with silent_server(payload) as port:
        done = _camera(f"http://127.0.0.1:{port}/live.mjpg", shipped_artifacts)
    assert done.returncode == 1, done.stderr  # the source stalled: a failed input, not a setup error
    assert "did not open within 1 s: it stopped answering" in done.stderr and not done.stdout


def test_a_stream_that_stalls_after_some_frames_is_not_a_normal_end(shipped_artifacts):
    """Enough frames for FFmpeg to recognise the stream (it probes about 5 MB), then silence."""
    with silent_server(HTTP_HEADER + _frames(200)) as port:
        done = _camera(f"http://127.0.0.1:{port}/live.mjpg", shipped_artifacts)
    assert done.returncode == 1, done.stderr
    assert "no frame from the source for 1 s" in done.stderr
    frames = [json.loads(line)["frame"] for line in done.stdout.splitlines()]
    assert frames and frames == list(range(len(frames)))  # frames were read until the stall
