"""The frame loop: read the handwritten digits of video frames with a pipeline, draw the overlay.

Each frame: digits located (`locate.py`, the locator `predict` uses on stills) -> crops -> MNIST 28x28
(`to_mnist`) -> one pipeline batch for all digits of the frame -> digits read left to right as a number.
`digitguard camera` and `digitguard bench` both run it.
"""
import contextlib
import itertools
import os
import queue
import re
import stat
import threading

import cv2
import numpy as np

from .errors import SourceError, StreamTimeout
from .files import file_kind
from .pipeline import read_number

GREEN, RED, WHITE = (0, 200, 0), (0, 0, 255), (255, 255, 255)
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # rtsp://, http://, file://...
V4L_MAJOR = 81  # Linux's device number for video4linux (/dev/video*); other character devices are no cameras
LIVE = ("camera", "device")  # sources whose frames are worth nothing once a newer one has arrived
GRACE = 1.0  # s: OpenCV's own timeouts run this much past ours, so a call we gave up on still ends soon after


def source_kind(source) -> str:
    """"camera" (an index), "device" (a video4linux file such as /dev/video0), "url" (scheme://...) or "file"
    (a regular file). Anything else is refused with a SourceError before OpenCV sees it: opening a FIFO
    blocks forever, and a directory or another device is no video."""
    source = str(source)
    if source.isdigit():
        return "camera"
    if URL.match(source):
        return "url"
    try:
        status = os.stat(source)
    except OSError as e:
        raise SourceError(f"cannot open video source {source!r} ({e.strerror})") from None
    if stat.S_ISREG(status.st_mode):
        return "file"
    if stat.S_ISCHR(status.st_mode) and os.major(status.st_rdev) == V4L_MAJOR:
        return "device"
    raise SourceError(f"video source {source!r} is {file_kind(status)}, not a camera, video file or URL: not opened")


def open_source(source, timeout: float = 10.0) -> cv2.VideoCapture:
    """An opened capture of a camera index ("0"), video4linux device, video file or URL.

    Raises SourceError for a source that is refused or cannot be opened, StreamTimeout when opening
    takes more than `timeout` seconds (a server that accepts and never answers).
    """
    kind = source_kind(source)
    answer = queue.Queue(maxsize=1)  # opened on a thread: no backend may keep us waiting past `timeout`
    threading.Thread(target=lambda: answer.put(_capture(source, kind, timeout + GRACE)),
                     name="digitguard-camera-open", daemon=True).start()
    try:
        capture = answer.get(timeout=timeout)
    except queue.Empty:
        raise StreamTimeout(f"video source {source!r} did not open within {timeout:g} s: "
                            "it stopped answering") from None
    if not capture.isOpened():
        raise SourceError(f"cannot open video source {source!r} (no such camera, not a video, or unreachable)")
    return capture


def _capture(source, kind, timeout):
    if kind == "camera":
        return cv2.VideoCapture(int(source))
    if kind == "device":
        return cv2.VideoCapture(str(source), cv2.CAP_V4L2)
    # FFMPEG honours open and read timeouts (30 s each by default); they end the calls we gave up on.
    ms = round(timeout * 1000)
    return cv2.VideoCapture(str(source), cv2.CAP_FFMPEG,
                            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])


def read_frame(pipeline, frame: np.ndarray) -> list:
    """The digits of one BGR (or grey) frame, left to right, as JSON-ready dicts (`Digit.to_dict`)."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return [digit.to_dict() for digit in pipeline.read_digits(gray)]


def number(digits) -> str:
    """The digits (dicts) left to right; "?" for one the policy rejected (flagged, label None)."""
    return read_number(d["label"] for d in digits)



def _frames(capture, timeout, live):
    """Frames from `capture`, read on a thread so that a source that stops delivering cannot hang us.

    Ends at the end of a file or stream; raises StreamTimeout when no frame arrives for `timeout` seconds,
    or when a live camera fails to deliver one (a camera has no end). A live camera keeps only its newest
    frame, so the overlay never lags behind reality.
    """
    frames = queue.Queue(maxsize=1 if live else 4)
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            ok, frame = capture.read()
            item = frame if ok else None  # None marks the end of the stream
            while not stop.is_set():
                try:
                    frames.put(item, block=not live, timeout=0.1)  # a file waits for us; a camera does not
                    break
                except queue.Full:
                    if live:
                        try:
                            frames.get_nowait()
                        except queue.Empty:
                            pass
            if item is None:
                return

    reader = threading.Thread(target=pump, name="digitguard-camera-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                frame = frames.get(timeout=timeout)
            except queue.Empty:
                raise StreamTimeout(f"no frame from the source for {timeout:g} s; stopping") from None
            if frame is None and live:
                raise StreamTimeout("the camera stopped delivering frames")
            if frame is None:
                return
            yield frame
    finally:
        stop.set()
        reader.join(timeout=GRACE + 1)  # a read we gave up on ends after OpenCV's read timeout, GRACE after ours
        if not reader.is_alive():  # releasing while a read is blocked in another thread can crash OpenCV
            capture.release()


def process_stream(pipeline, capture, max_frames=None, timeout=10.0, live=False):
    """Yield (frame index, frame, digits) for each frame of an open capture (anything with .read/.release)."""
    with contextlib.closing(_frames(capture, timeout, live)) as frames:  # closing stops the reader thread
        for index, frame in enumerate(itertools.islice(frames, max_frames)):
            yield index, frame, read_frame(pipeline, frame)


def draw_overlay(frame: np.ndarray, digits) -> np.ndarray:
    """Boxes, labels and confidences on the frame (in place when it is BGR); red with ATTACK when flagged."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    for d in digits:
        x, y, w, h = d["box"]
        color = RED if d["flagged"] else GREEN
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, 2)
        text = f"{number([d])} {d['confidence']:.0%}" + (" ATTACK" if d["flagged"] else "")
        cv2.putText(frame, text, (x, max(15, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
    if digits:
        cv2.putText(frame, number(digits), (10, 35), cv2.FONT_HERSHEY_SIMPLEX, 1.2, WHITE, 3)
    return frame
