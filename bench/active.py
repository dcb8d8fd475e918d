"""What a few hundred labels buy: choose → label → learn in rounds, with an oracle for the editor.

    python bench/active.py --run RUN [--strategies default,random,uncertainty,diversity] [--seeds 0,1,2]
                           [--budgets 50,100,200,400,800] [--out-dir bench/runs/active] [--section active]

Pool: the 44,931 KLUE YNAT train headlines, written without their labels; an article's label is revealed (mapped to
the run's topic names: 생활문화 → culture) only once `kornews choose` picked it. Each round chooses from the pool with
the previous round's run (the first with RUN), adds the oracle's answers to one labels file that grows across
rounds, and `kornews learn` teaches RUN the whole file (each round from RUN, so rounds never compound drift), seeded
by the bench seed. Scored on YNAT dev (9,107 headlines, accuracy and macro-F1 over its 7 topics: culture and
entertain → 생활문화; calibration error of the calibrated probabilities summed per YNAT topic) and knews8 test (what
the run kept of its own outlet). Times: choosing (the pool's embeddings cached after the first round) and learning.
A round finished by an earlier invocation is reused.

    python bench/active.py --run RUN --variants repeats=16,freeze_layers=4 --labels LABELS [--out-dir ...]

With `--pseudo` each round learns with `--unlabeled` the pool, pseudo-labelled by the run that chose the round.

teaches RUN one labels file with learn's defaults and with each variant (a `kornews learn` option, or a recipe key
passed as --key=value) and prints each one's scores: the learning recipe's trade-offs.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, machine, publish, table, yardsticks  # noqa: E402

FROM_YNAT = {"IT과학": "it", "경제": "economy", "사회": "society", "생활문화": "culture", "세계": "international",
             "스포츠": "sport", "정치": "politics"}
QUIET = {"progress": False, "log": lambda s: None}


def pool_file(out_dir: Path) -> tuple[Path, dict, dict]:
    """The pool without labels (id, title), the oracle's answers by id, and the pool's topic mix (YNAT names)."""
    from kornews.data import articles
    frame = articles.read("ynat:train", mode=2, quiet=True).frame
    path = out_dir / "pool.csv"
    if not path.is_file():
        frame[["id", "title"]].to_csv(path, index=False)
    mix = frame["label"].value_counts(normalize=True).to_dict()
    return path, dict(zip(frame["id"], frame["label"].map(FROM_YNAT))), mix


def scores(run: Path, ynat: pd.DataFrame, test: pd.DataFrame, mix: dict | None = None) -> dict:
    """YNAT dev accuracy, macro-F1 and calibration error, knews8 test accuracy; with `mix` (the pool's share of
    each YNAT topic) also the dev accuracy at the pool's topic mix: what learn's estimate, on random checks of the
    pool, estimates (YNAT dev is 41% 사회, the pool far less)."""
    from sklearn.metrics import f1_score

    from kornews import Classifier
    from kornews.stats.confidence import ece
    clf = Classifier.load(run)
    probs = clf.predict_proba(ynat)
    topics = sorted(set(TO_YNAT.values()))
    merged = np.stack([probs[:, [i for i, k in enumerate(clf.labels) if TO_YNAT.get(k) == t]].sum(1)
                       for t in topics], 1)
    truth = np.array([topics.index(t) for t in ynat["label"]])
    pred = merged.argmax(1)
    test_pred = np.array(clf.labels)[clf.predict_proba(test).argmax(1)]
    out = {"ynat": float(np.mean(pred == truth)), "ynat_f1": float(f1_score(truth, pred, average="macro")),
           "ece": float(ece(merged, truth)), "knews8": float(np.mean(test_pred == test["label"].to_numpy()))}
    if mix:
        out["ynat_at_pool_mix"] = float(sum(share * np.mean(pred[truth == topics.index(t)] == topics.index(t))
                                            for t, share in mix.items()))
    return out


def pool_accuracy(run: Path, pool: Path, oracle: dict, labels: Path, n: int = 2000) -> float:
    """Accuracy of `run` on `n` pool headlines drawn at random (seed 0) among those not in `labels`, against the
    oracle: the truth learn's estimate, on random checks of the same pool, estimates."""
    from kornews import Classifier
    frame = pd.read_csv(pool, dtype=str, keep_default_na=False)
    taken = set(pd.read_csv(labels, dtype=str, keep_default_na=False)["id"])
    sample = frame[~frame["id"].isin(taken)].sample(n=n, random_state=0)
    pred = Classifier.load(run).predict(sample.assign(body=""))
    return float(np.mean(np.asarray(pred) == sample["id"].map(oracle).to_numpy()))


def one_round(run: Path, prev: Path, pool: Path, oracle: dict, labels: Path, where: Path, budget: int,
              strategy: str, seed: int, ynat, test, mix: dict, pseudo: bool = False) -> dict:
    from kornews.commands.choose import choose_articles
    from kornews.commands.learn import learn_run
    record = where / "round.json"
    if record.is_file():
        return json.loads(record.read_text())
    where.mkdir(parents=True, exist_ok=True)
    have = pd.read_csv(labels, dtype=str, keep_default_na=False) if labels.is_file() else None
    n = budget - (0 if have is None else len(have))
    started = time.time()
    sheet = choose_articles(prev, pool, where / "chosen.csv", n=n, strategy=strategy, seed=seed,
                            labeled=labels if have is not None else None, **QUIET)
    chose = time.time() - started
    answered = sheet.assign(label=sheet["id"].map(oracle))[["id", "title", "pick", "label"]]
    grown = answered if have is None else pd.concat([have, answered])
    grown.to_csv(labels, index=False)  # the labels file that grows across rounds
    started = time.time()
    more = {"unlabeled": pool, "labeller": prev} if pseudo else {}  # the run that chose pseudo-labels the pool
    estimate = learn_run(run, labels, where / "run", overrides=[f"--seed={seed}"], **more, **QUIET)
    learned = time.time() - started
    result = {"budget": budget, "strategy": strategy + "+pseudo" * pseudo, "seed": seed, "choose_s": chose, "learn_s": learned,
              "estimate": estimate["accuracy"], "interval": estimate["interval"],
              **scores(where / "run", ynat, test, mix)}
    record.write_text(json.dumps(result))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--strategies", default="default,random,uncertainty,diversity")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="50,100,200,400,800")
    ap.add_argument("--out-dir", default="bench/runs/active")
    ap.add_argument("--section", default="active")
    ap.add_argument("--pseudo", action="store_true", help="learn with --unlabeled POOL, the choosing run labelling")
    ap.add_argument("--variants", help="key=value,...: learning variants on --labels instead of the rounds")
    ap.add_argument("--labels", help="the labels file the variants learn")
    args = ap.parse_args()
    if args.variants:
        return variants(Path(args.run), Path(args.labels), args.variants.split(","), Path(args.out_dir))
    started = time.time()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = Path(args.run)
    pool, oracle, mix = pool_file(out_dir)
    ynat, test = yardsticks()
    start = scores(run, ynat, test, mix)
    results = []
    for strategy in args.strategies.split(","):
        for seed in map(int, args.seeds.split(",")):
            prev, labels = run, out_dir / f"{strategy}-{seed}" / "labels.csv"
            for budget in map(int, args.budgets.split(",")):
                where = out_dir / f"{strategy}-{seed}" / f"b{budget}"
                r = one_round(run, prev, pool, oracle, labels, where, budget, strategy, seed, ynat, test, mix,
                              args.pseudo)
                if "pool_acc" not in r:  # rounds recorded before it was measured get it now
                    r["pool_acc"] = pool_accuracy(where / "run", pool, oracle, labels)
                    (where / "round.json").write_text(json.dumps(r))
                print(json.dumps(r), flush=True)
                results.append(r)
                prev = where / "run"
    publish(args.section, render(results, start, args, started))


def variants(run: Path, labels: Path, chosen: list[str], out_dir: Path) -> None:
    from kornews.commands.learn import learn_run
    ynat, test = yardsticks()
    for variant in ["default"] + chosen:
        key, _, value = variant.partition("=")
        options = {} if variant == "default" else (
            {key: int(value)} if key == "repeats" else {"overrides": [f"--{key}={value}"]})
        out = out_dir / f"variant-{variant.replace('=', '-')}"
        started = time.time()
        if not (out / "learn" / "estimate.json").is_file():
            learn_run(run, labels, out, **options, **QUIET)
        print(variant, f"{time.time() - started:.0f} s", json.dumps(scores(out, ynat, test)), flush=True)


def render(results: list[dict], start: dict, args, started: float) -> str:
    df = pd.DataFrame(results)
    rows = [["no labels (RUN)", "-", "-", f"{start['ynat']:.4f}", "-", f"{start['ynat_f1']:.4f}",
             f"{start['ece']:.4f}", f"{start['knews8']:.4f}", "-", "-"]]
    for (budget, strategy), g in df.groupby(["budget", "strategy"], sort=True):
        sd = g["ynat"].std(ddof=1) if len(g) > 1 else float("nan")
        rows.append([budget, strategy, len(g), f"{g['ynat'].mean():.4f}", f"{sd:.4f}" if len(g) > 1 else "-",
                     f"{g['ynat_f1'].mean():.4f}", f"{g['ece'].mean():.4f}", f"{g['knews8'].mean():.4f}",
                     f"{g['estimate'].mean():.4f} / {g['pool_acc'].mean():.4f}",
                     f"{g['choose_s'].mean():.0f} + {g['learn_s'].mean():.0f}"])
    head = ["labels", "strategy", "seeds", "YNAT dev accuracy", "sd over seeds", "YNAT macro-F1",
            "YNAT calibration error", "knews8 test accuracy", "learn's estimate (random checks) / accuracy on 2,000 other pool headlines",
            "seconds: choose + learn"]
    return "\n".join([
        "## What a few hundred labels buy (YNAT as the editor's news)", "",
        f"`python bench/active.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{(time.time() - started) / 60:.0f} minutes in all (rounds finished earlier reused), one process.", "",
        table(head, rows), "",
        "Each row: mean over seeds of the run taught that many labels, chosen in rounds by the strategy and answered "
        "by an oracle (YNAT's own labels, 생활문화 → culture); the fifth of each round `choose` drew at random is held "
        "out by `kornews learn` to choose its epoch, calibrate it and estimate its accuracy, which the same column "
        "sets beside the run's accuracy on 2,000 other headlines of the pool (YNAT dev is 41% 사회, the pool less: "
        "the estimate is of the pool). The seconds are one round's: choosing from the "
        "44,931 headlines with the previous round's run (the pool's embeddings cached after the first round) and "
        "learning."])


if __name__ == "__main__":
    main()
