"""The one atomic file writer: a reader sees the old file or the new one, never half of either.

Used by the memory store (the JSON store's document) and by publish (every artifact). The protocol: write
a temp file beside the target (``.<name>.<32 hex>.tmp``), fsync it, give it the mode the target will have,
``os.replace`` it over the target, then fsync the directory so the rename itself survives a crash. A
failure at any step, an interrupt included, removes the temp file and leaves the previous target as it was.

File mode: a replaced file keeps its mode; a new one gets ``0o666`` less the umask, as any file the user
creates (the kernel applies the umask to ``os.open``, so the process umask is never read or changed).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from sk_loadagent.secrets import mask_bytes, mask_text

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    """The name every temp file of ``path`` starts with; a random 32-hex id and ``.tmp`` follow it."""
    return f".{path.name}."


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8), creating its directory if needed.

    Every secret this process knows is written as ``***`` (``sk_loadagent.secrets``): what is written here
    leaves the process."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = mask_text(data).encode("utf-8") if isinstance(data, str) else mask_bytes(data)
    tmp = target.with_name(f"{temp_prefix(target)}{uuid.uuid4().hex}{TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(handle.fileno(), target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(target.parent)
    return target


def fsync_directory(directory: Path) -> None:
    """Make renames and removals in ``directory`` durable; a filesystem that cannot fsync one is skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
