"""`kornews experiment GRID.yaml`: a grid of recipes repeated over seeds, each cell an ordinary run directory,
summarised in one report (Markdown, CSV, plots) rebuilt from the run directories alone.

    base: recipes/knews8.yaml       # a recipe path, or a mapping of config keys
    set: {max_len: 128}             # keys applied to every cell (over the base)
    seeds: [1, 2, 3]
    target: 0.85                    # test accuracy for "epochs / seconds to target"
    conditions:                     # named conditions; each is a mapping of config keys
      - {name: mode 1 batch 32, mode: 1, batch_size: 32}
      - {name: mode 2, mode: 2}
    grid: {clusters.k: [8, 16]}     # optional: every condition crossed with every combination
    folds: 5                        # optional: every cell becomes seed x fold (below)
    fold_seed: 0                    # which articles fall in which fold (the same for every condition)
    baseline: mode 2                # optional: the condition every other is compared with, pair by pair
    cross: {data: ynat:dev, map: {it: IT과학, culture: 생활문화, ...}}   # optional: another source's labelled
                                    # articles, each predicted topic mapped to its labels (unmapped: as named)

DIR/grid.json lists the cells; DIR/cells/<cell>/ are run directories (trained, then evaluated on the recipe's
test split). A rerun skips finished cells (scoring a `cross:` set added since) and resumes a killed one in place
(`train --resume`).

With `folds: K`, the base recipe's train and test splits are pooled and cut into K stratified folds once
(DIR/folds/fold-<k>/{train,test}.csv); cell fold k trains on the other folds (its validation split taken from
them) and is scored on fold k. The report then gives mean ± sd over folds and seeds, and each condition's paired
difference from the baseline (cells matched by seed and fold) with its t statistic. A `cross:` set is scored by
every cell (RUN/cross.json); a cell whose mode cannot read it (body only, on headlines) has no cross score.
"""
import itertools
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.commands.evaluate import evaluate
from kornews.commands.train import train_run
from kornews.core import plots, rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.data import articles
from kornews.training import config

GRID, CELLS, REPORT, FOLDS, CROSS = "grid.json", "cells", "report", "folds", "cross.json"
KEYS = ("base", "set", "seeds", "target", "conditions", "grid", "folds", "fold_seed", "baseline", "cross")


@dataclass(frozen=True)
class Cell:
    condition: str
    seed: int
    values: dict   # config keys (dotted) of this cell over the base
    fold: int | None = None

    @property
    def name(self) -> str:
        return f"{slug(self.condition)}-seed{self.seed}" + (f"-fold{self.fold}" if self.fold else "")


def slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z가-힣.]+", "-", text).strip("-").lower() or "cell"


def read_grid(path) -> dict:
    spec = config.read_yaml(path)
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise KornewsError(f"{path}: unknown grid key(s) {', '.join(sorted(unknown))} (known: {', '.join(KEYS)})")
    if not spec.get("conditions") and not spec.get("grid"):
        raise KornewsError(f"{path}: a grid needs 'conditions' (a list of named mappings) or 'grid'")
    k = spec.get("folds")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 2):
        raise KornewsError(f"{path}: folds must be a whole number of at least 2, got {k!r}")
    cross = spec.get("cross")
    if cross is not None and (not isinstance(cross, dict) or not cross.get("data")
                              or not isinstance(cross.get("map") or {}, dict) or set(cross) - {"data", "map"}):
        raise KornewsError(f"{path}: cross must be a mapping with 'data' (a labelled source) and an optional "
                           "'map' (predicted topic: the source's label)")
    base = spec.get("base") or {}
    if isinstance(base, str):  # a recipe path, relative to the grid file
        recipe = Path(base) if Path(base).is_absolute() else Path(path).parent / base
        base = config.read_yaml(recipe)
    spec["base"] = config.merge(base, config.nest(spec.get("set") or {}))
    return spec


def cells(spec: dict) -> list[Cell]:
    conditions = spec.get("conditions") or [{"name": "base"}]
    grid = spec.get("grid") or {}
    seeds = spec.get("seeds") or [config.TrainConfig.seed]
    out = []
    for cond in conditions:
        if not isinstance(cond, dict) or "name" not in cond:
            raise KornewsError(f"every condition needs a name, got {cond!r}")
        keys = {k: v for k, v in cond.items() if k != "name"}
        for combo in itertools.product(*grid.values()):
            extra = dict(zip(grid, combo))
            label = str(cond["name"]) + "".join(f", {k}={v}" for k, v in extra.items())
            for seed in seeds:
                for fold in range(1, spec["folds"] + 1) if spec.get("folds") else (None,):
                    out.append(Cell(label, int(seed), {**keys, **extra, "seed": int(seed)}, fold))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise KornewsError("two cells share a name: give every condition a distinct name")
    baseline = spec.get("baseline")
    if baseline is not None and baseline not in {c.condition for c in out}:
        raise KornewsError(f"baseline {baseline!r} is not a condition of the grid "
                           f"(conditions: {', '.join(dict.fromkeys(c.condition for c in out))})")
    return out


def cell_config(spec: dict, cell: Cell, out=None):
    values = config.merge(spec["base"], config.nest(cell.values))
    if cell.fold:  # the fold's own files: the pooled articles less this fold, and this fold
        where = fold_dir(out, cell.fold)
        values = {**values, "train": str(where / "train.csv"), "test": str(where / "test.csv")}
    cfg = config.load(base=values)
    if not cfg.test:
        raise KornewsError("the grid's base recipe needs a test split (test: ...): cells are scored on it")
    return cfg


def fold_dir(out, fold: int) -> Path:
    return Path(out) / FOLDS / f"fold-{fold}"


def write_folds(spec: dict, out) -> None:
    """DIR/folds/fold-<k>/{train,test}.csv from the base recipe's train and test splits pooled (written once:
    a rerun keeps the files its cells were trained on)."""
    k = spec["folds"]
    if all((fold_dir(out, i) / name).is_file() for i in range(1, k + 1) for name in ("train.csv", "test.csv")):
        return
    from sklearn.model_selection import StratifiedKFold
    base = config.load(base=spec["base"])
    pooled = pd.concat([_all_fields(source, split, base).assign(id=lambda d, s=split: s + "-" + d["id"])
                        for source, split in ((base.train, "train"), (base.test, "test")) if source],
                       ignore_index=True)
    fewest = pooled["label"].value_counts()
    if fewest.min() < k:
        raise KornewsError(f"{k} folds need at least {k} articles of every topic; {fewest.idxmin()!r} has "
                           f"{fewest.min()}")
    columns = [c for c in ("id", "title", "body", "label") if c in pooled]
    cuts = StratifiedKFold(k, shuffle=True, random_state=int(spec.get("fold_seed") or 0))
    for i, (rest, held) in enumerate(cuts.split(pooled, pooled["label"]), 1):
        for name, rows in (("train.csv", rest), ("test.csv", held)):
            atomic_write_text(fold_dir(out, i) / name, pooled.iloc[rows][columns].to_csv(index=False))


def _all_fields(source, split: str, cfg) -> pd.DataFrame:
    """The labelled articles of a source with title and body where it has both (mode 3), else as the recipe's
    mode reads them: every condition's mode then finds its fields in the fold files."""
    try:
        return articles.read(source, mode=3, columns=cfg.columns, split=split, encoding=cfg.encoding,
                             quiet=True).frame
    except KornewsError:
        return articles.read(source, mode=cfg.mode, columns=cfg.columns, split=split, encoding=cfg.encoding,
                             quiet=True).frame


def run_grid(grid_path, out, *, log=print, progress=False) -> dict:
    """Train and evaluate every cell not finished yet, one after another; then write the report."""
    spec, out = read_grid(grid_path), Path(out)
    todo = cells(spec)
    if spec.get("folds"):
        write_folds(spec, out)
    configs = {c.name: cell_config(spec, c, out) for c in todo}  # every cell validated before any trains
    cross = spec.get("cross")
    out.mkdir(parents=True, exist_ok=True)
    rundir.write_json(out / GRID, {"grid": str(grid_path), "target": spec.get("target"),
                                    "baseline": spec.get("baseline"), "folds": spec.get("folds"),
                                    "cross": cross and cross["data"],
                                    "cells": [{"name": c.name, "condition": c.condition, "seed": c.seed,
                                               "fold": c.fold, "values": c.values} for c in todo]})
    started, spent, done_now = time.time(), [], 0
    for i, cell in enumerate(todo, 1):
        where = out / CELLS / cell.name
        if (where / "report.json").is_file():
            if cross and not (where / CROSS).is_file():  # a cross set added to a grid after this cell finished
                score_cross(where, cross["data"], cross.get("map") or {})
            continue
        t0 = time.time()
        if not (where / rundir.FINAL).is_file():
            resume = (where / rundir.CONFIG).is_file()  # killed mid-run: continue it in place
            train_run(configs[cell.name], where, resume=resume, progress=progress, log=lambda s: None)
        evaluate(where, configs[cell.name].test)
        if cross:
            score_cross(where, cross["data"], cross.get("map") or {})
        spent.append(time.time() - t0)
        done_now += 1
        left = sum(1 for c in todo[i:] if not (out / CELLS / c.name / "report.json").is_file())
        eta = np.mean(spent) * left
        log(f"[{i}/{len(todo)}] {cell.condition} seed {cell.seed}: {spent[-1]:.0f} s; elapsed "
            f"{_clock(time.time() - started)}, about {_clock(eta)} left for {left} cell{'s' * (left != 1)}")
    return grid_report(out, log=log)


def score_cross(run, data, to: dict) -> dict | None:
    """RUN/cross.json: accuracy and macro-F1 of the run on another source's labelled articles, each predicted
    topic mapped through `to` first; None (nothing written) where the run's mode cannot read that source."""
    from sklearn.metrics import accuracy_score, f1_score

    from kornews.inference.classifier import Classifier
    clf = Classifier.load(run)
    try:
        df = clf.read(data, labeled=True, split="test", quiet=True).frame
    except KornewsError:  # e.g. a body-only cell on headlines: no score rather than no grid
        return None
    pred = [to.get(label, label) for label in clf.predict(df)]
    scores = {"data": str(data), "n": len(df), "accuracy": float(accuracy_score(df["label"], pred)),
              "macro_f1": float(f1_score(df["label"], pred, average="macro"))}
    rundir.write_json(Path(run) / CROSS, scores)
    return scores


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# --- the report: from run directories alone ------------------------------------------------------------

def collect(out) -> pd.DataFrame:
    """One row per finished cell: its condition, seed, per-epoch test accuracy and its evaluation."""
    out = Path(out)
    listing = rundir.read_json(out / GRID)
    rows = []
    for c in listing["cells"]:
        where = out / CELLS / c["name"]
        if not (where / "report.json").is_file():
            continue
        history = rundir.read_metrics(where)
        final, rep = rundir.read_json(where / rundir.FINAL), rundir.read_json(where / "report.json")
        cross = rundir.read_json(where / CROSS) if (where / CROSS).is_file() else {}
        rows.append({"condition": c["condition"], "seed": c["seed"], "fold": c.get("fold"), "dir": str(where),
                     "cross_accuracy": cross.get("accuracy"), "cross_macro_f1": cross.get("macro_f1"),
                     "test_acc_per_epoch": [r.get("test_acc") for r in history],
                     "elapsed_per_epoch": [r["elapsed_s"] for r in history],
                     "kept_epoch": final["best_epoch"], "epochs_run": final["epochs_run"],
                     "accuracy": rep["accuracy"], "macro_f1": rep["macro"]["f1"],
                     "train_seconds": final["train_seconds"], "labels": rep["labels"],
                     "per_class_f1": [rep["per_class"][lab]["f1"] for lab in rep["labels"]],
                     "confusion": rep["confusion"]})
    if not rows:
        raise KornewsError(f"{out}: no finished cells to report on")
    return pd.DataFrame(rows)


def _to_target(accs: list, elapsed: list, target):
    for epoch, (acc, secs) in enumerate(zip(accs, elapsed), 1):
        if acc is not None and target is not None and acc >= target:
            return epoch, secs
    return None, None


def _mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return f"{np.mean(values):.4f} ± {sd:.4f}" if not math.isnan(sd) else f"{np.mean(values):.4f}"


def summary(cells_df: pd.DataFrame, target=None) -> pd.DataFrame:
    """Per condition, in grid order: means ± sd over its cells, seeds or seed x fold (sample sd)."""
    rows = []
    folded = "fold" in cells_df and cells_df.fold.notna().any()
    unit = "cells" if folded else "seeds"  # with folds a count covers seed x fold
    for no, (condition, g) in enumerate(cells_df.groupby("condition", sort=False), 1):
        best = [max(a for a in accs if a is not None) for accs in g.test_acc_per_epoch]
        at = [1 + int(np.nanargmax([a if a is not None else -1 for a in accs])) for accs in g.test_acc_per_epoch]
        reach = [_to_target(a, e, target) for a, e in zip(g.test_acc_per_epoch, g.elapsed_per_epoch)]
        hit = [r for r in reach if r[0] is not None]
        if target is None:
            to_epochs = to_seconds = "-"
        elif hit:
            to_epochs = f"{np.mean([h[0] for h in hit]):.1f} ({len(hit)}/{len(g)} {unit})"
            to_seconds = f"{np.mean([h[1] for h in hit]):.0f}"
        else:
            to_epochs, to_seconds = f"not reached (0/{len(g)})", "-"
        row = {
            "No": no, "Condition": condition, "seeds": g.seed.nunique(),
            "test acc after epoch 1": _mean_sd([accs[0] for accs in g.test_acc_per_epoch]),
            "best test acc (any epoch)": _mean_sd(best), "at epoch": f"{np.mean(at):.1f}",
            "test acc (kept model)": _mean_sd(g.accuracy), "macro-F1 (kept model)": _mean_sd(g.macro_f1),
            "kept epoch": f"{g.kept_epoch.mean():.1f}", "epochs to target": to_epochs,
            "s to target": to_seconds, "train s": f"{g.train_seconds.mean():.0f}"}
        if folded:
            row = {**dict(list(row.items())[:3]), "folds": g.fold.nunique(), **dict(list(row.items())[3:])}
        if "cross_accuracy" in g and g.cross_accuracy.notna().any():
            row.update({"cross acc": _mean_sd(g.cross_accuracy.dropna()),
                        "cross macro-F1": _mean_sd(g.cross_macro_f1.dropna())})
        rows.append(row)
    return pd.DataFrame(rows)


def paired(cells_df: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Every other condition against `baseline`, cell by cell (same seed and fold): mean ± sd of the differences
    in test accuracy (and cross accuracy where scored), in points, and the paired t statistic."""
    key = ["seed", "fold"] if "fold" in cells_df else ["seed"]
    cells_df = cells_df.assign(fold=cells_df.get("fold", 0)).fillna({"fold": 0})
    base = cells_df[cells_df.condition == baseline]
    rows = []
    for condition, g in cells_df[cells_df.condition != baseline].groupby("condition", sort=False):
        both = g.merge(base, on=key, how="inner", suffixes=("", "_base"))
        row = {"Condition": condition, "against": baseline, "pairs": len(both)}
        for column, name in (("accuracy", "test acc"), ("cross_accuracy", "cross acc")):
            if column not in both:
                continue
            diff = 100 * (both[column] - both[f"{column}_base"]).dropna().astype(float)
            if diff.empty:
                continue
            sd = float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")
            t = float(diff.mean()) / (sd / math.sqrt(len(diff))) if len(diff) > 1 and sd > 0 else float("nan")
            spread = "" if math.isnan(sd) else f" ± {sd:.2f}"
            row[f"Δ {name} (points)"] = f"{diff.mean():+.2f}{spread}"
            row[f"t ({name})"] = "-" if math.isnan(t) else f"{t:+.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def grid_report(out, target=None, log=print) -> dict:
    """Write DIR/report/{report.md, summary.csv, cells.csv, *.png} from the run directories alone; `target`
    replaces the grid's target accuracy (one no condition reached says nothing about speed)."""
    out = Path(out)
    listing = rundir.read_json(out / GRID)
    target = target if target is not None else listing.get("target")
    df = collect(out)
    table = summary(df, target)
    baseline = listing.get("baseline")
    pairs = paired(df, baseline) if baseline and baseline in set(df.condition) else None
    dest = out / REPORT
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest / "summary.csv", table.to_csv(index=False))
    if pairs is not None:
        atomic_write_text(dest / "paired.csv", pairs.to_csv(index=False))
    per_cell = df.drop(columns=["labels", "confusion", "per_class_f1", "dir"]).assign(
        test_acc_per_epoch=[" ".join(f"{a:.4f}" for a in accs if a is not None) for accs in df.test_acc_per_epoch],
        elapsed_per_epoch=[" ".join(f"{t:.1f}" for t in times) for times in df.elapsed_per_epoch])
    atomic_write_text(dest / "cells.csv", per_cell.to_csv(index=False))
    _plot_curves(df, dest / "test_accuracy.png")
    _plot_f1(df, dest / "per_class_f1.png")

    for condition, g in df.groupby("condition", sort=False):
        cm = np.sum([np.array(c) for c in g.confusion], axis=0)
        plots.plot_confusion({"confusion": cm.tolist(), "labels": g.labels.iloc[0],
                              "accuracy": float(np.trace(cm) / cm.sum())}, dest / f"confusion-{slug(condition)}.png")
    over = f"seeds and {listing['folds']} folds" if listing.get("folds") else "seeds"
    lines = [f"# Experiment report: {out.name}", "",
             f"{len(df)} finished cells, {df.condition.nunique()} conditions; mean ± sd over {over} (sample sd). "
             f"Target test accuracy: {target if target is not None else 'none set'}."
             + (f" Cross-source: {listing['cross']}." if listing.get("cross") else ""),
             "'best test acc (any epoch)' is what the seed reported (the best epoch chosen on test: optimistic); "
             "'kept model' is the epoch chosen on validation loss, scored on the test split.", "",
             _markdown(table), "",
             *([f"Paired against {baseline!r} (cells of the same seed and fold; t = mean / (sd / √pairs)):", "",
                _markdown(pairs), ""] if pairs is not None and len(pairs) else []),
             "Plots: `test_accuracy.png` (mean over a condition's cells with a min–max band), `per_class_f1.png`, "
             "`confusion-<condition>.png` (summed over its cells)."]
    atomic_write_text(dest / "report.md", "\n".join(lines) + "\n")
    log(f"report: {dest / 'report.md'}")
    return {"cells": len(df), "summary": table.to_dict(orient="records"),
            "paired": [] if pairs is None else pairs.to_dict(orient="records")}


def _markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _plot_curves(df: pd.DataFrame, path: Path) -> None:
    plt, _ = plots.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    groups = list(df.groupby("condition", sort=False))
    # past ten conditions the default cycle repeats colours: tab20 keeps every line its own
    colors = plt.get_cmap("tab20").colors if len(groups) > 10 else [None] * len(groups)
    for (condition, g), color in zip(groups, colors):
        width = max(len(a) for a in g.test_acc_per_epoch)
        curves = np.full((len(g), width), np.nan)
        for i, accs in enumerate(g.test_acc_per_epoch):
            curves[i, :len(accs)] = [np.nan if a is None else a for a in accs]
        epochs = np.arange(1, width + 1)
        line, = ax.plot(epochs, np.nanmean(curves, axis=0), marker="o", ms=3, label=condition, color=color)
        ax.fill_between(epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), alpha=0.15,
                        color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    plots.integer_epochs(ax)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    plots.save(fig, path)
    plt.close(fig)


def _plot_f1(df: pd.DataFrame, path: Path) -> None:
    plt, _ = plots.pyplot()
    labels = df.labels.iloc[0]
    conditions = list(dict.fromkeys(df.condition))
    f1 = np.array([np.mean(list(df[df.condition == c].per_class_f1), axis=0) for c in conditions])
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(labels), 1.0 + 0.4 * len(conditions)))
    ax.imshow(f1, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(conditions)), conditions, fontsize=8)
    for i in range(len(conditions)):
        for j in range(len(labels)):
            ax.text(j, i, f"{f1[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if f1[i, j] > 0.6 else "black")
    ax.set_title("per-class F1 (mean over a condition's cells)")
    fig.tight_layout()
    plots.save(fig, path)
    plt.close(fig)
