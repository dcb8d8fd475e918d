"""Where kornews keeps what it builds (backbones, embeddings), and how it writes atomically."""
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from kornews.core.errors import KornewsError


def home() -> Path:
    """$KORNEWS_HOME, else ~/.cache/kornews."""
    return Path(os.environ.get("KORNEWS_HOME") or Path.home() / ".cache" / "kornews")


def _umasked(mode: int) -> int:
    """`mode` under the process umask: what a plain open()/mkdir() would give (mkstemp/mkdtemp give 0600/0700,
    which a service running as another user cannot read)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextlib.contextmanager
def atomic_dir(target: Path):
    """Yield a temporary sibling directory; on success it replaces `target` by renames.

    A crash or kill leaves only `.tmp-*`/`.old-*` folders behind, never a half-made `target`; an existing
    `target` is renamed away first, so between the two renames the previous version still exists whole.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    os.chmod(tmp, _umasked(0o777))
    try:
        yield tmp
        for path in tmp.rglob("*"):  # libraries write some files via mkstemp (0600): readable like any saved model
            os.chmod(path, _umasked(0o777 if path.is_dir() else 0o666))
        old = target.with_name(f".old-{target.name}-{tmp.name[-8:]}")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        os.fchmod(fd, _umasked(0o666))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_yaml(path, what: str = "recipe") -> dict:
    path = Path(path)
    if not path.is_file():
        raise KornewsError(f"{path}: {what} not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise KornewsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise KornewsError(f"{path}: a {what} must be a mapping of its keys")
    return values


def cached_array(path: Path, compute) -> np.ndarray:
    """`compute()`'s array, saved at `path` (atomically) the first time, read back every time after."""
    if Path(path).is_file():
        return np.load(path)
    value = np.asarray(compute(), dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, value)
    atomic_write_bytes(path, buffer.getvalue())
    return value
