"""Bounded reads of regular files: a FIFO or device is refused instead of blocking, a huge file from its size."""
from __future__ import annotations

import os
import stat

# O_NONBLOCK: a FIFO swapped in after the check opens at once instead of waiting for a writer (POSIX only)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_KINDS = {"d": "a directory", "p": "a FIFO (named pipe)", "c": "a character device", "b": "a block device",
          "s": "a socket"}


class _Refused(Exception):
    pass


def read_regular_file(path, limit: int, error: type) -> bytes:
    """The bytes of the regular file `path` if it holds at most `limit`; `error(message naming path)` otherwise."""
    try:
        _check(os.stat(path), limit)  # before opening: opening a FIFO can block, opening a device can act on it
        with open(os.open(path, _OPEN_FLAGS), "rb") as f:
            _check(os.fstat(f.fileno()), limit)  # what was opened may have been swapped in since the stat
            data = f.read(limit + 1)  # + 1: a file that grew since is still caught
        _check_size(len(data), limit)
        return data
    except OSError as e:
        raise error(f"{path}: cannot read file ({e.strerror or e})") from None
    except _Refused as e:
        raise error(f"{path}: {e}") from None


def file_kind(status: os.stat_result) -> str:
    """What a file that is not a regular one is, in words: "a FIFO (named pipe)", "a directory"..."""
    return _KINDS.get(stat.filemode(status.st_mode)[0], "a special file")


def _check(status: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise _Refused(f"cannot read {file_kind(status)}: only regular files are read")
    _check_size(status.st_size, limit)


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise _Refused(f"file is {size / 1e6:,.1f} MB, more than the {limit / 1e6:,.0f} MB allowed: not read")
