"""Output files that are never half-written and never an input of the same command.

`check_output` / `check_output_dir` run before any work: the folder must exist (or be creatable) and be
writable, and the output must not be one of the command's inputs (resolved paths compared, hard links too).
`atomic_output` writes through a temporary file in the same folder, fsyncs it and renames it over the final
path (os.replace is atomic on POSIX), so an error, SIGINT or SIGKILL leaves the previous file (or none) there,
never a truncated one; replacing an existing file is said on stderr.
"""
from contextlib import contextmanager
import json
import os
from pathlib import Path
import sys
import tempfile

from ltcsn.errors import InputError


def _same_file(a: Path, b: Path) -> bool:
    """True when a and b name the same file: equal resolved paths, or (both existing) the same inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _writable_dir(folder: Path) -> bool:
    """Whether a file can be created in folder: tried for real (os.access says yes to root on read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_output(path, inputs=(), option: str = "output") -> Path:
    """Check an output file before any work. path: the file to write; inputs: the command's input files;
    option: how the user named it ("--json", "-o"). Returns the Path. Raises InputError (one line)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder, not a file")
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{option} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is not a folder")
    if not _writable_dir(parent):
        raise InputError(f"{option} {path}: folder {parent} is not writable")
    for inp in inputs:
        if inp is not None and _same_file(path, Path(inp)):
            raise InputError(f"{option} {path}: is an input of this command ({inp}); it would be overwritten")
    return path


def check_output_dir(folder, inputs=(), files=(), option: str = "--out") -> Path:
    """Check an output folder before any work: it may not exist yet (then its nearest existing ancestor must be a
    writable folder), else it must be a writable folder; none of `files` (names written inside it) may be one of
    the command's inputs. Returns the Path. Raises InputError (one line)."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise InputError(f"{option} {folder}: exists and is not a folder")
        if not _writable_dir(folder):
            raise InputError(f"{option} {folder}: folder is not writable")
    else:
        ancestor = folder.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InputError(f"{option} {folder}: cannot create it, {ancestor} is a file")
        if not _writable_dir(ancestor):
            raise InputError(f"{option} {folder}: cannot create it, {ancestor} is not writable")
    for name in files:
        for inp in inputs:
            if inp is not None and _same_file(folder / name, Path(inp)):
                raise InputError(f"{option} {folder}: would overwrite {folder / name}, an input of this command "
                                 f"({inp}); choose another {option}")
    return folder


def _fsync_dir(folder: Path):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path, quiet_replace: bool = False):
    """Yield a temporary Path in path's folder; write the file there. On a normal exit the file is fsynced and
    renamed over `path` (atomic), and replacing an existing file is said on stderr unless quiet_replace; on any
    exception (KeyboardInterrupt included) the temporary file is removed and `path` is untouched."""
    path = Path(path)
    existed = path.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)    # mkstemp made it 0600; give it the mode a plain open() would
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
    if existed and not quiet_replace:
        print(f"note: replaced {path} (written to a temporary file, then renamed over it)", file=sys.stderr)


def write_text(path, text: str, quiet_replace: bool = False) -> Path:
    """Write text atomically (see `atomic_output`)."""
    with atomic_output(path, quiet_replace) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path, obj, quiet_replace: bool = False) -> Path:
    """Write obj as indented JSON atomically; numpy arrays and scalars become lists and numbers."""
    def default(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)
    return write_text(path, json.dumps(obj, indent=2, default=default) + "\n", quiet_replace)
