"""manifest.json: its schema checked in one place, model files kept inside the folder, hostile manifests refused."""
import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from digitguard.runtime import ManifestError, ModelError, Pipeline
from digitguard.runtime.cli import main
from digitguard.runtime.manifest import Manifest, default_artifacts
from tests.helpers import SHIPPED

REAL = json.loads((SHIPPED / "manifest.json").read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A copy of the shipped models whose manifest.json each test rewrites."""
    folder = tmp_path_factory.mktemp("artifacts")
    for model in SHIPPED.glob("*.onnx"):
        shutil.copy(model, folder)
    return folder


def write(folder: Path, manifest) -> Path:
    (folder / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return folder


DELETE = object()


def edited(path: tuple, value) -> dict:
    """The real manifest with the value at `path` (keys) replaced, or deleted when `value` is DELETE."""
    manifest = json.loads(json.dumps(REAL))
    *parents, last = path
    node = manifest
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return manifest


def info(folder: Path) -> tuple:
    """`digitguard info --artifacts folder`: (exit code, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["info", "--artifacts", str(folder)])
    return code, out.getvalue()


def assert_refused(folder: Path, words: str) -> None:
    with pytest.raises(ManifestError, match=words) as refused:
        Pipeline.load(folder)
    code, printed = info(folder)
    assert code == 2 and str(refused.value) in printed, printed


def test_the_shipped_manifest_loads_from_the_installed_package():
    manifest = Manifest.load()
    assert manifest.folder == default_artifacts() and (manifest.folder / "manifest.json").is_file()
    assert 0 < manifest.threshold < 1 and manifest.models == REAL["models"]


@pytest.mark.parametrize("threshold", [math.nan, "nan", math.inf, -math.inf, 2, -1, 0, 1, True, None, [0.5], "0.5"])
def test_a_threshold_that_is_not_a_number_in_0_1_is_refused(folder, threshold):
    """NaN (which JSON readers accept) compares false with every score: the detector would never flag."""
    assert_refused(write(folder, edited(("detector", "threshold"), threshold)), "detector threshold")


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/../../screen.onnx", ".", ""])
def test_model_files_outside_the_folder_are_refused(folder, name):
    assert_refused(write(folder, edited(("models", "screen", "file"), name)), "model 'screen': file")


def test_a_symlink_out_of_the_folder_is_refused_even_with_the_right_hash(folder, tmp_path):
    """The real model, moved outside and linked back: its sha256 matches, only its place is wrong."""
    outside = tmp_path / "screen.onnx"
    shutil.copy(folder / "screen.onnx", outside)
    link = folder / "linked.onnx"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    assert_refused(write(folder, edited(("models", "screen", "file"), "linked.onnx")), "resolves to .*outside")


@pytest.mark.parametrize("path, value, words", [
    (("models", "screen", "file"), 123, "file 123 is not a file name"),
    (("models", "screen", "file"), None, "file None is not a file name"),
    (("models", "screen", "sha256"), 123, "sha256 123 is not 64"),
    (("models", "screen", "sha256"), "ABC", "sha256 'ABC' is not 64"),
    (("models", "screen", "bytes"), "big", "bytes 'big' is not a file size"),
    (("models", "screen", "bytes"), -1, "bytes -1"),
    (("models", "screen", "bytes"), True, "bytes True"),
    (("models", "screen"), [], "model 'screen': expected a JSON object"),
    (("models",), {}, "models is not"),
    (("models",), None, "models is not"),
    (("policy",), [], "policy is not"),
    (("policy", "classifier"), None, "bad policy"),
    (("policy", "purify_flagged"), "yes", "bad policy"),
    (("policy", "unknown"), 1, "bad policy"),
    (("detector",), 0.5, "detector threshold None"),
    (("format_version",), True, "format_version True"),
    (("format_version",), "1", "format_version '1'"),
    (("format_version",), 2, "format_version 2"),
])
def test_malformed_entries_are_manifest_errors(folder, path, value, words):
    assert_refused(write(folder, edited(path, value)), words)


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "RecursionError"),
    ("[]", "expected a JSON object, got list"),
    ('{"format_version": 1,', "JSONDecodeError"),
    ("\udcff", "UnicodeDecodeError"),
], ids=["nested", "list", "truncated", "not-utf8"])
def test_unreadable_manifests_are_manifest_errors(folder, text, words):
    (folder / "manifest.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    assert_refused(folder, words)


def test_a_huge_manifest_is_refused_unread(folder):
    with open(folder / "manifest.json", "wb") as f:
        f.truncate(50 * 10 ** 6)  # sparse: no disk space
    assert_refused(folder, "file is 50.0 MB, more than the 10 MB allowed")


def test_a_manifest_that_is_a_fifo_is_refused_instead_of_blocking(tmp_path):
    """In a child process: the timeout only guards the test against hanging forever."""
    os.mkfifo(tmp_path / "manifest.json")
    run = subprocess.run([sys.executable, "-m", "digitguard.runtime.cli", "info", "--artifacts", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "cannot read a FIFO (named pipe)" in run.stdout, run.stdout + run.stderr


def test_a_file_outside_the_folder_is_not_even_hashed(folder):
    """info used to hash /etc/passwd and print the start of its sha256."""
    write(folder, edited(("models", "baseline", "file"), "/etc/passwd"))
    code, printed = info(folder)
    assert code == 2 and hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()[:12] not in printed


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4),
                    max_leaves=12)


def key_paths(node, prefix=()):
    """Every path of keys into the real manifest (the empty one first)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from key_paths(value, prefix + (key,))


PATHS = [path for path in key_paths(REAL) if path]


def assert_loads_or_is_refused_typed(folder: Path) -> None:
    """Pipeline.load gives a pipeline, a ManifestError or a ModelError; info an exit code, 2 for a bad manifest."""
    try:
        Pipeline.load(folder)
    except ManifestError:
        assert info(folder)[0] == 2
        return
    except ModelError:
        pass
    assert info(folder)[0] in (0, 1, 2)


@settings(max_examples=60, deadline=None)
@given(manifest=JSON)
def test_any_json_as_manifest_loads_or_is_refused_typed(folder, manifest):
    assert_loads_or_is_refused_typed(write(folder, json.dumps(manifest)))


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON | st.just(DELETE))
def test_any_edit_of_the_real_manifest_loads_or_is_refused_typed(folder, path, value):
    assert_loads_or_is_refused_typed(write(folder, edited(path, value)))
