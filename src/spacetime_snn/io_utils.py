"""Atomic file writes and inter-process locks: an interrupted job never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import DiskFullError, UnwritableError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
NO_FLOCK = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP)
"""flock's errors on file systems without it (NFS without lockd, Lustre without the flock mount option)."""
_NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded", "errno = 28", "errno = 122")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it onto `target` only if the block succeeds.

    The temporary file lives in the same directory so that `os.replace` is atomic (same file system). A write
    that fails because the file system is full raises DiskFullError naming the target, the file system and its
    free space (instead of, say, torch's `[enforce fail at inline_container.cc]`); `target` is left as it was.
    """
    target = Path(target)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to collaborators
        yield tmp_path
        os.replace(tmp_path, target)
    except Exception as error:
        if is_disk_full(error):
            raise disk_full_error(target, error) from error
        if isinstance(error, OSError) and error.errno in UNWRITABLE:
            raise unwritable_error(Path(error.filename or target), error) from error
        raise
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from, reports a full file system or an exceeded quota."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return True
        if any(text in str(error) for text in _NO_SPACE_TEXTS):  # h5py and others report errno in their text
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_error(target: Path, error: BaseException) -> DiskFullError:
    """The message for a write to `target` that failed for lack of space: which file system, how much is free."""
    folder = target.parent
    mount = _mount_point(folder)
    try:
        usage = shutil.disk_usage(folder)
        space = f"{_size(usage.free)} free of {_size(usage.total)}"
    except OSError:
        space = "free space unknown"
    return DiskFullError(
        f"{target}: cannot be written: the disk is full (or over quota) — the file system mounted at {mount}, "
        f"which holds {folder}, has {space} ({type(error).__name__}: {error}). Nothing was replaced: {target} "
        f"keeps its previous content, if it had any. Fix: free space on {mount} (`df -h {folder}` shows it; "
        f"`du -sh results resources` shows what this project uses) or move the project to a larger disk, then "
        f"rerun the same command (a training run resumes from its last checkpoint)."
    )


def unwritable_error(path: str | os.PathLike, error: OSError) -> UnwritableError:
    """The message for a file or folder that cannot be created: read-only file system or no permission."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    reason = ("the file system is mounted read-only" if error.errno == errno.EROFS
              else "this user may not write there")
    return UnwritableError(
        f"{path}: cannot be written ({error.strerror or error}): {reason} (the file system mounted at "
        f"{_mount_point(folder)}). Nothing was written there. Fix: give an output path on a writable file system "
        f"(another --out / --out-dir, or run the workflow from a writable copy of the project), or get write "
        f"access (`ls -ld {folder}` shows owner and mode; `mount | grep ' ro,'` lists read-only mounts).")


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed) for the duration of the block.

    On a file system without flock (Lustre mounted without it, NFS without lockd) the block runs unlocked: its
    users write atomically (atomic_path), so two processes at worst do the same work twice.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in NO_FLOCK:
                raise
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
