"""`kornews data pull NAME`: fetch a named dataset's public files, build and verify its split files in a temporary
folder, and rename that into the data home, so an interruption never leaves a half-written dataset folder."""
import os
import urllib.parse
from pathlib import Path

from .. import datasets, download, files
from ..errors import KornewsError

MIRROR_ENV = "KORNEWS_PULL_BASE"  # replaces the scheme and host of every source URL (a mirror, a test server)


def pull_dataset(name: str, to=None, force: bool = False, progress: bool = True, log=print,
                 base: str | None = None) -> str:
    """Pull dataset `name` into data home `to` (default: $KORNEWS_DATA, else $KORNEWS_HOME/data) unless a valid
    copy is there (`force`: pull anyway); one line saying what is there now. `base`: as $KORNEWS_PULL_BASE."""
    if name not in datasets.DATASETS:
        raise KornewsError(f"cannot pull {name!r}: the named datasets are {', '.join(datasets.DATASETS)}")
    dataset, home = datasets.DATASETS[name], Path(to) if to else datasets.pulled_home()
    target = home / name
    present = None if force else _present(dataset, target, log)
    if present:
        return f"{name}: already in {target} ({_rows(present)}); --force pulls it again"
    fetched = {}
    try:
        for part, url in dataset.urls.items():
            fetched[part] = _fetch(name, mirrored=download.mirrored(url, base or os.environ.get(MIRROR_ENV)),
                                   home=home, force=force, progress=progress, log=log)
        counts = _build(dataset, fetched, target)
    finally:
        for path in fetched.values():  # a finished download is built or useless: never kept
            path.unlink(missing_ok=True)
    return f"{name}: wrote {target} ({_rows(counts)})"


def _present(dataset: datasets.Dataset, target: Path, log) -> dict | None:
    """Rows per split of a valid copy in `target`, else None (saying why, when a copy is there)."""
    if not all((target / file).is_file() for file in dataset.files.values()):
        return None
    try:
        return download.verify(dataset, target)
    except KornewsError as e:
        log(f"kornews: {target} is not a valid {dataset.name} ({e}); pulling it again")
        return None


def _fetch(name: str, mirrored: str, home: Path, force: bool, progress: bool, log) -> Path:
    # hidden, beside the dataset folder: a `.part` there is resumed by the next pull (unless --force)
    dest = home / f".{name}-{Path(urllib.parse.urlsplit(mirrored).path).name}"
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    log(f"kornews: downloading {mirrored}" + (f" (resuming after {part.stat().st_size:,} bytes)"
                                              if part.exists() else ""))
    return download.fetch(mirrored, dest, progress=progress)


def _build(dataset: datasets.Dataset, fetched: dict, target: Path) -> dict:
    try:
        with files.atomic_dir(target) as tmp:
            download.build(dataset, fetched, tmp)
            return download.verify(dataset, tmp)
    except KornewsError as e:
        raise KornewsError(f"{e}; nothing was written to {target}") from None


def _rows(counts: dict) -> str:
    return ", ".join(f"{split} {n:,} rows" for split, n in counts.items())
