"""Named datasets (knews8, ynat): where each lives, its splits and columns, and the data home that holds them.
`locate` is the one place a source name becomes a file."""
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Columns
from .errors import KornewsError


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: dict          # split -> file name under data_home()/name/
    columns: Columns
    modes: tuple         # the modes its columns can feed
    source: str          # where to fetch it
    license: str


DATASETS = {
    "knews8": Dataset(
        "knews8", "Korean news, title and body, 8 topics", {"train": "train.csv", "test": "test.csv"},
        Columns(), (1, 2, 3, 4, 5),
        "GitHub Moog303/Korean_News_Classification (newsData/{0..7}/*.txt, title TAB body)",
        "no licence stated; publishers' copyright: test and measure only"),
    "ynat": Dataset(
        "ynat", "KLUE YNAT headlines only, 7 topics", {"train": "train.tsv", "dev": "dev.tsv"},
        Columns(title="title", body="body", label="label", id="guid"), (2,),
        "KLUE benchmark, https://github.com/KLUE-benchmark/KLUE", "CC BY-SA 4.0"),
}


def _home_candidates() -> list[Path]:
    if os.environ.get("KORNEWS_DATA"):
        return [Path(os.environ["KORNEWS_DATA"])]
    package = Path(__file__).resolve().parent
    # ../shared/data beside the working directory, else beside the repo root (some ancestor of the package).
    candidates = [Path.cwd().parent / "shared" / "data"] + [p / "shared" / "data" for p in package.parents]
    return list(dict.fromkeys(candidates))


def data_home() -> Path | None:
    """$KORNEWS_DATA, else the first existing ../shared/data (from the CWD, then from the repo root)."""
    return next((p for p in _home_candidates() if p.is_dir()), None)


def _home_text() -> str:
    home = data_home()
    if home is not None:
        return str(home)
    if os.environ.get("KORNEWS_DATA"):
        return f"none: KORNEWS_DATA={os.environ['KORNEWS_DATA']} is not a directory"
    return "none found (set KORNEWS_DATA; searched ../shared/data from the working directory and the repo)"


def locate(source, split="train") -> tuple[Path, Dataset | None]:
    """(path, dataset) for "NAME", "NAME:SPLIT" or a file path (a Path object is always a file path)."""
    text = str(source)
    name, _, named_split = text.partition(":")
    if isinstance(source, str) and name in DATASETS:
        dataset, split = DATASETS[name], named_split or split
        if split not in dataset.files:
            raise KornewsError(f"{name} has no split {split!r}; its splits: {', '.join(dataset.files)}")
        home = data_home()
        relative = f"{name}/{dataset.files[split]}"
        if home is None or not (home / relative).is_file():
            raise KornewsError(f"{text}: {relative} not found in the data home ({_home_text()}); "
                               f"fetch it from {dataset.source} and set KORNEWS_DATA")
        return home / relative, dataset
    path = Path(source)
    if isinstance(source, Path) or path.exists() or "/" in text or os.sep in text or path.suffix:
        return path, None
    known = "; ".join(f"{d.name} ({'/'.join(d.files)}; {d.description}; source: {d.source}; {d.license})"
                      for d in DATASETS.values())
    raise KornewsError(f"unknown dataset {text!r} and no such file; known datasets: {known}; "
                       f"data home: {_home_text()}")
