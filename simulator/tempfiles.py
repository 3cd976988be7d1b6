"""simplan's temporary files: atomic writes, and cleaning up after a process that died.

Every output simplan writes goes through a temporary beside it, renamed into place when
complete, so a reader never sees half a file. A temporary's name says it is simplan's
and which process on which host made it (``.<name>.simplan-tmp-<host>-<pid>-<random>``),
so a later write can remove the ones left by a process that was killed (SIGKILL, a power
cut) without ever touching a file that simplan did not create or that a live process is
still writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from simplan.errors import SimplanError

#: The tag in every temporary file name simplan makes.
TAG = "simplan-tmp"


def host_tag() -> str:
    """A short, filename-safe tag for this host (temporaries on shared filesystems)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (assume so when unsure)."""
    if os.name == "nt":  # os.kill would terminate it: assume alive, leave its files
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _owner(name: str, prefix: str) -> tuple[str, int] | None:
    """(host tag, pid) of a temporary name that starts with ``prefix``, else None."""
    rest = name[len(prefix) :]
    parts = rest.split("-", 2)
    if not name.startswith(prefix) or len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def remove_stale(path: Path) -> list[Path]:
    """Remove temporaries for ``path`` left by dead processes on this host; returns them."""
    prefix = f".{path.name}.{TAG}-"
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for sibling in path.parent.iterdir():
        owner = _owner(sibling.name, prefix)
        if owner is None or not sibling.name.endswith(".tmp"):
            continue
        host, pid = owner
        if host != host_tag() or pid == os.getpid() or process_alive(pid):
            continue
        if sibling.is_file() and not sibling.is_symlink():
            with contextlib.suppress(OSError):  # best effort: a leftover never blocks a write
                sibling.unlink()
                removed.append(sibling)
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder, then rename over ``path``.

    A reader never sees a half-written file, and an interrupted write leaves the old
    file (or none) in place; temporaries of killed simplan processes are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    prefix = f".{path.name}.{TAG}-{host_tag()}-{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; results are for sharing
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_output_folder(folder: Path, source: str, file_name: str | None = None) -> None:
    """Raise a clear error unless simplan can create and write files in ``folder``.

    Called before any work starts, so a bad output path costs nothing: a name longer than
    the filesystem allows (``file_name`` too, when given), a file where a folder is
    needed, a loop of symbolic links, or a place where nothing can be created (``/proc``,
    a read-only mount). May leave the folder created (empty), never a file.
    """

    def refuse(problem: str) -> SimplanError:
        return SimplanError(f"cannot write the output: {problem}", source=source)

    def why(exc: OSError) -> str:
        return exc.strerror.lower() if exc.strerror else str(exc)

    for part in (*folder.parts, *([file_name] if file_name else [])):
        if len(part.encode()) > 255:  # NAME_MAX on Linux, macOS and Windows filesystems
            raise refuse(
                f"a name in the path is {len(part.encode())} bytes long; filesystems allow "
                "at most 255"
            )
    for ancestor in (folder, *folder.parents):
        try:
            if ancestor.is_symlink() and not ancestor.exists():
                raise refuse(f"{ancestor} is a symbolic link that leads nowhere (or in a loop)")
            if ancestor.exists() and not ancestor.is_dir():
                raise refuse(f"{ancestor} is a file, not a folder")
        except OSError as exc:  # a loop of symbolic links, no permission
            raise refuse(f"{why(exc)}: {ancestor}") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{TAG}-probe-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise refuse(f"cannot create or write files in {folder} ({why(exc)})") from None
