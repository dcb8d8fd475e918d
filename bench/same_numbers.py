"""Did a refactor change what training computes? Each way of training (plain, `also:`, adapt's pseudo-labels,
distillation with unlabelled articles and body crops) runs on a small slice of knews8 with the code of a git revision
and with the working tree's, and their final metrics are compared to the last digit.

    python bench/same_numbers.py --base e8ef8c9

Slice: 40 knews8 training articles per topic, the real backbone (me5-small-ko) with 8 of its 12 layers frozen,
128 tokens, three epochs (the adapted run and the student: one); YNAT train's first 120 headlines as the other
source and as the unlabelled articles. Each run is a `kornews` subprocess whose PYTHONPATH points at that tree's src/
(checked: the tree's kornews is the one imported).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, base_parser, checkout, machine, publish, section

from kornews.data import articles

RECIPE = ["--epochs=3", "--max_len=128", "--freeze_layers=8", "--val_fraction=0.25", "--test=knews8:test"]
YNAT_TO_KNEWS8 = {"IT과학": "it", "경제": "economy", "사회": "society", "생활문화": "culture|entertain",
                  "세계": "international", "스포츠": "sport", "정치": "politics"}
KEYS = ("best_epoch", "val_loss", "val_acc", "test_loss", "test_acc")


def slices(folder: Path) -> dict:
    """The small inputs every case reads, written once as files both trees read alike."""
    train = articles.read("knews8:train", mode=3, quiet=True).frame
    train = train.groupby("label", group_keys=False).head(40)
    knews8 = folder / "knews8-slice.csv"
    train.rename(columns={"body": "cleanBody", "label": "category"})[["id", "title", "cleanBody", "category"]] \
        .to_csv(knews8, index=False)
    ynat = articles.read("ynat:train", mode=2, quiet=True).frame.head(120)
    headlines = folder / "ynat-slice.tsv"
    ynat[["title", "label"]].to_csv(headlines, sep="\t", index=False)
    return {"knews8": str(knews8), "ynat": str(headlines)}


def cases(data: dict, runs: Path) -> list[tuple[str, list[str], Path]]:
    """(name, kornews arguments, the run directory it writes), in the order they must run (later ones read the
    plain run)."""
    plain = runs / "plain"
    also = [f"--also.data={data['ynat']}"] + [f"--also.labels.{k}={v}" for k, v in YNAT_TO_KNEWS8.items()]
    return [
        ("plain", ["train", "--quiet", "--out", str(plain), f"--train={data['knews8']}", *RECIPE], plain),
        ("also", ["train", "--quiet", "--out", str(runs / "also"), f"--train={data['knews8']}", *RECIPE, *also],
         runs / "also"),
        ("adapt (pseudo-labels)", ["adapt", str(plain), data["ynat"], "--out", str(runs / "adapt"), "--quiet",
                                   "--neighbours", "0", "--per-topic", "5", "--epochs", "1"], runs / "adapt"),
        ("distill (1 layer, unlabelled, crops)", ["distill", str(plain), "--out", str(runs / "distill"), "--quiet",
                                                  "--layers", "1", "--epochs", "1", "--unlabeled", data["ynat"],
                                                  "--distill.crops=1"], runs / "distill"),
    ]


def run(tree: Path, args: list[str], log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    found = subprocess.run([sys.executable, "-c", "import kornews; print(kornews.__file__)"], env=env, text=True,
                           capture_output=True, check=True).stdout.strip()
    if not Path(found).is_relative_to(tree / "src"):  # an installed kornews must not stand in for the tree's
        raise SystemExit(f"{tree}: python imports kornews from {found}, not from this tree")
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "kornews.cli", *args], env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"kornews {' '.join(args)} failed in {tree}:\n{log.read_text()[-2000:]}")


def main():
    args = base_parser(__doc__, "same-numbers").parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = checkout(args.base, tmp / "base-tree")
        data = slices(tmp)
        finals = {}
        for label, tree in (("base", base), ("tree", ROOT)):
            runs = tmp / label
            runs.mkdir()
            for name, cmd, out in cases(data, runs):
                run(tree, cmd, runs / f"{out.name}.log")
                finals[label, name] = json.loads((out / "final.json").read_text())
                print(label, name, {k: finals[label, name].get(k) for k in KEYS}, flush=True)
    rows = []
    for name, *_ in cases(data, tmp):
        a, b = finals["base", name], finals["tree", name]
        same = all(a.get(k) == b.get(k) for k in KEYS)
        rows.append([name, *(f"{a.get(k)} / {b.get(k)}" for k in ("val_loss", "val_acc", "test_acc")),
                     "yes" if same else "**no**"])
    text = section(f"The same numbers after a refactor (base {args.base})",
                   f"`python bench/same_numbers.py --base {args.base}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
                   f"{(time.time() - started) / 60:.0f} minutes, one process at a time.",
                   ["way of training", "val_loss (base / tree)", "val_acc", "test_acc (knews8 test)",
                    "identical"], rows,
                   "Each way trained on the same slice by the code of the base revision and of the working tree; "
                   "`identical` compares best epoch, validation and test loss and accuracy to the last digit.")
    publish(args.section, text)


if __name__ == "__main__":
    main()
