"""Named datasets (knews8, ynat): where each lives, its splits and columns, where `kornews data pull` fetches it
and what a pull must build, and the data homes that hold them. `locate` is the one place a source name becomes a file.
"""
import os
from dataclasses import dataclass
from pathlib import Path

from kornews.core import files
from kornews.core.errors import KornewsError


@dataclass(frozen=True)
class Columns:
    """Which input column holds each field; the seed's names by default (override: --columns.body=text)."""
    title: str = "title"
    body: str = "cleanBody"
    label: str = "category"
    id: str = "id"

@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: dict          # split -> file name under data_home()/name/
    columns: Columns
    modes: tuple         # the modes its columns can feed
    source: str          # where it comes from, in words
    license: str
    urls: dict           # what `kornews data pull` fetches: part -> public URL (`download` knows each layout)
    labels: tuple        # the label set every split must have
    rows: dict           # split -> (least, most) rows a pull must build; most None: no upper bound
    per_label: dict      # split -> rows of every label, for the splits the source balances
    ids: dict            # split -> a regular expression every id of that split matches (ids also unique)


# knews8's source, GitHub Moog303/Korean_News_Classification, holds newsData/D/DNNNNewsData.txt: folder D (0-7) is
# the topic, NNN (000-199) the article, 000-159 train and 160-199 test (its README and notebook). The topic of each
# folder was derived from the shared knews8 CSVs (../shared/data/knews8), built from that source: their id is "DNNN"
# and every id starting with digit D has the D-th of these categories (the source README's order: 정치, 경제, 사회,
# 생활/문화, 세계, IT, 연예, 스포츠). The archive is not reachable here, so the layout is the documented one.
KNEWS8_TOPICS = ("politics", "economy", "society", "culture", "international", "it", "entertain", "sport")
KNEWS8_PER_TOPIC = 200
KNEWS8_TEST_FROM = 160   # articles NNN >= this are the test split
YNAT_LABELS = ("IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치")


DATASETS = {
    "knews8": Dataset(
        "knews8", "Korean news, title and body, 8 topics", {"train": "train.csv", "test": "test.csv"},
        Columns(), (1, 2, 3, 4, 5),
        "GitHub Moog303/Korean_News_Classification (newsData/{0..7}/*.txt: a title line, then the body)",
        "no licence stated; publishers' copyright: test and measure only",
        urls={"archive": "https://github.com/Moog303/Korean_News_Classification/archive/refs/heads/master.zip"},
        labels=KNEWS8_TOPICS,
        rows={"train": (1280, 1280), "test": (320, 320)},
        per_label={"train": KNEWS8_TEST_FROM, "test": KNEWS8_PER_TOPIC - KNEWS8_TEST_FROM},
        ids={"train": r"[0-7](0\d\d|1[0-5]\d)", "test": r"[0-7]1[6-9]\d"}),
    "ynat": Dataset(
        "ynat", "KLUE YNAT headlines only, 7 topics", {"train": "train.tsv", "dev": "dev.tsv"},
        Columns(title="title", body="body", label="label", id="guid"), (2, 3, 4, 5),  # pair modes: headlines alone
        "KLUE benchmark, https://github.com/KLUE-benchmark/KLUE", "CC BY-SA 4.0",
        urls={split: "https://raw.githubusercontent.com/KLUE-benchmark/KLUE/main/klue_benchmark/ynat-v1.1/"
                     f"ynat-v1.1_{split}.json" for split in ("train", "dev")},
        labels=YNAT_LABELS,
        # KLUE's train has 45,678 headlines; a lower bound lets a slightly different release through
        rows={"train": (40000, None), "dev": (9107, 9107)},
        per_label={},
        ids={"dev": r"ynat-v1_dev_\d{5}"}),
}


def pulled_home() -> Path:
    """Where `kornews data pull` writes by default: $KORNEWS_DATA, else $KORNEWS_HOME/data."""
    return Path(os.environ.get("KORNEWS_DATA") or files.home() / "data")


def _home_candidates() -> list[Path]:
    if os.environ.get("KORNEWS_DATA"):
        return [Path(os.environ["KORNEWS_DATA"])]
    package = Path(__file__).resolve().parent
    # ../shared/data beside the working directory, else beside the repo root (some ancestor of the package);
    # last, where a pull writes.
    candidates = [Path.cwd().parent / "shared" / "data"] + [p / "shared" / "data" for p in package.parents]
    return list(dict.fromkeys(candidates + [pulled_home()]))


def data_home() -> Path | None:
    """$KORNEWS_DATA, else the first existing ../shared/data (from the CWD, then from the repo root), else
    $KORNEWS_HOME/data."""
    return next((p for p in _home_candidates() if p.is_dir()), None)


def _find(relative: str) -> Path | None:
    """The first data home holding `relative`: a pulled dataset is found even beside a shared home without it."""
    return next((p / relative for p in _home_candidates() if (p / relative).is_file()), None)


def _home_text() -> str:
    home = data_home()
    if home is not None:
        return str(home)
    if os.environ.get("KORNEWS_DATA"):
        return f"none: KORNEWS_DATA={os.environ['KORNEWS_DATA']} is not a directory"
    return ("none found (set KORNEWS_DATA; searched ../shared/data from the working directory and the repo, "
            f"and {pulled_home()})")


def locate(source, split="train") -> tuple[Path, Dataset | None]:
    """(path, dataset) for "NAME", "NAME:SPLIT" or a file path (a Path object is always a file path)."""
    text = str(source)
    name, _, named_split = text.partition(":")
    if isinstance(source, str) and name in DATASETS:
        dataset, split = DATASETS[name], named_split or split
        if split not in dataset.files:
            raise KornewsError(f"{name} has no split {split!r}; its splits: {', '.join(dataset.files)}")
        relative = f"{name}/{dataset.files[split]}"
        path = _find(relative)
        if path is None:
            raise KornewsError(f"{text}: {relative} not found in the data home ({_home_text()}); "
                               f"run: kornews data pull {name}")
        return path, dataset
    path = Path(source)
    if isinstance(source, Path) or path.exists() or "/" in text or os.sep in text or path.suffix:
        return path, None
    known = "; ".join(f"{d.name} ({'/'.join(d.files)}; {d.description}; source: {d.source}; {d.license})"
                      for d in DATASETS.values())
    raise KornewsError(f"unknown dataset {text!r} and no such file; known datasets: {known}; "
                       f"data home: {_home_text()}")
