"""Shared by the benchmarks: timed child processes with their own peak memory, and the docs table writer."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# knews8 topic → YNAT topic (YNAT has no separate entertainment: 생활문화 covers culture and entertainment)
TO_YNAT = {"it": "IT과학", "economy": "경제", "society": "사회", "culture": "생활문화", "entertain": "생활문화",
           "international": "세계", "sport": "스포츠", "politics": "정치"}


def measured(cmd: list[str], log: Path | None = None) -> tuple[float, float]:
    """Run `cmd`; return (seconds, peak RSS in MiB of that child alone, via wait4)."""
    start = time.perf_counter()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if log:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        tail = Path(log).read_text()[-2000:] if log else ""
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{tail}")
    return seconds, usage.ru_maxrss / 1024


def measured_once(cmd: list[str], out: Path, done: Path) -> tuple[str, str] | None:
    """(seconds, peak MiB) as table cells of `cmd`, which makes the directory `out`; where `done` exists, an earlier
    invocation finished it and what it measured (recorded beside `out`) is reused: None if it recorded nothing.
    A directory left unfinished is made anew."""
    record = out.with_suffix(".json")
    if done.is_file():
        return tuple(json.loads(record.read_text())) if record.is_file() else None
    if out.exists():
        shutil.rmtree(out)
    seconds, peak = measured(cmd, log=out.with_suffix(".log"))
    cells = (f"{seconds:.0f}", f"{peak:.0f}")
    record.write_text(json.dumps(cells))
    return cells


def kornews(*args) -> list[str]:
    return [sys.executable, "-m", "kornews.cli", *args]


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def section(heading: str, provenance: str, header: list[str], rows: list[list], reading: str) -> str:
    """A benchmark's section: its heading, the line saying how it was measured, its table, what the table means."""
    return "\n".join([f"## {heading}", "", provenance, "", table(header, rows), "", reading])


def write_section(name: str, text: str, path: Path = DOC) -> None:
    """Replace (or append) the block between `<!-- name:start -->` and `<!-- name:end -->` in docs/benchmarks.md (or
    `path`). A block is one measurement under a question's `##` heading (the question, its reading and the order of
    the questions are written by hand around the blocks), so the block's headings go one level down: a bench's
    `## Title` is written `### Title`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    intro = "# Benchmarks\n\nEvery number below comes from the command printed with it.\n"
    doc = path.read_text(encoding="utf-8") if path.exists() else intro
    text = re.sub(r"^(#{2,5}) ", r"#\1 ", text.rstrip(), flags=re.M)
    block = f"{start}\n{text}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    doc = pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def publish(name: str, text: str, path: Path = DOC) -> None:
    """Print a benchmark's section and put it into docs/benchmarks.md (or `path`): every bench ends this way."""
    print(text)
    write_section(name, text, path)


def machine() -> str:
    import platform

    import torch
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def hybrid_scores(run: Path, articles, truth=None, to=None) -> dict:
    """Accuracy and macro-F1 of the run's encoder alone, the hybrid's TF-IDF part, and each fusion (fitted on the
    run's validation split by `kornews hybrid`) on `articles`; `to` maps predicted labels first (cross-source)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from kornews import Classifier
    from kornews.commands.hybrid import fit_hybrid
    from kornews.stats import tfidf as tfidf_mod
    truth = list(articles["label"]) if truth is None else truth
    clf = Classifier.load(run, hybrid=False)
    enc = clf.predict_proba(articles)
    log_enc = np.log(np.clip(enc, 1e-12, None))
    probs = {"encoder": enc}
    tfidf = None
    for kind in tfidf_mod.FUSIONS:
        params = fit_hybrid(run, kind, log=lambda s: None, tfidf=tfidf)  # TF-IDF fitted once, fusions each
        tfidf = tfidf_mod.Hybrid.load(run).tfidf
        tf = tfidf.log_proba(tfidf_mod.texts(articles, clf.spec.mode))
        probs["TF-IDF LR (the hybrid's part)"] = np.exp(tf)
        probs[f"hybrid: {kind}"] = tfidf_mod.fuse(params, log_enc, tf)
    labels = clf.labels
    out = {}
    for name, p in probs.items():
        pred = [labels[i] for i in p.argmax(1)]
        pred = [to[x] for x in pred] if to else pred
        out[name] = (accuracy_score(truth, pred), f1_score(truth, pred, average="macro"))
    return out


def mapped_scores(probs, labels, truth, to=None) -> tuple[float, float]:
    """(accuracy, macro-F1) of the top topics of `probs`, mapped through `to` first (cross-source)."""
    from sklearn.metrics import accuracy_score, f1_score
    pred = [labels[i] for i in probs.argmax(1)]
    pred = [to[x] for x in pred] if to else pred
    return accuracy_score(truth, pred), f1_score(truth, pred, average="macro")


def verb_bench(doc: str, *, out_dir: str, section: str, run_help: str = "", source: str = "--run",
               default: str | None = None) -> argparse.ArgumentParser:
    """The parser of a bench that runs a kornews verb on one input: `source` (--run, or e.g. --recipe, --grid;
    required unless it has a `default`), --out-dir (made when parsed by `start`), --section; unknown options pass
    through to the verb."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(source, required=default is None, default=default, help=run_help)
    ap.add_argument("--out-dir", default=out_dir)
    ap.add_argument("--section", default=section)
    ap.set_defaults(source_key=source.lstrip("-").replace("-", "_"))
    return ap


def start(ap: argparse.ArgumentParser):
    """(args, the verb's options, out_dir made, the input (the run, recipe or grid), the start time) of a
    `verb_bench`."""
    args, extra = ap.parse_known_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return args, extra, out_dir, Path(getattr(args, args.source_key)), time.time()


def yardsticks():
    """The two sets every knews8 model is scored on: YNAT dev headlines (9,107, another outlet and period; no body)
    and knews8 test (320 articles, title + body)."""
    from kornews.data import articles
    return (articles.read("ynat:dev", mode=2, quiet=True).frame.assign(body=""),
            articles.read("knews8:test", mode=3, quiet=True).frame)


def yardstick_scores(clf, ynat, test) -> tuple[float, float, float]:
    """(YNAT dev accuracy, its macro-F1 over the 7 YNAT topics, knews8 test accuracy) of a Classifier."""
    acc, f1 = mapped_scores(clf.predict_proba(ynat), clf.labels, list(ynat["label"]), TO_YNAT)
    return acc, f1, mapped_scores(clf.predict_proba(test), clf.labels, list(test["label"]))[0]


def provenance(verb: str, extra: list[str], started: float) -> str:
    """The line under a `verb_bench` section's heading: its command, machine, date, the verb's options, how long."""
    script = Path(sys.argv[0]).name
    return (f"`python bench/{script} {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
            f"`kornews {verb}` with {' '.join(extra) or 'its defaults'}; {(time.time() - started) / 60:.0f} minutes in "
            "all, one process at a time.")


def base_parser(doc: str, section: str) -> argparse.ArgumentParser:
    """The parser of a bench that compares the working tree with the code of a git revision (`--base`)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the git revision to compare the working tree with")
    ap.add_argument("--section", default=section)
    return ap


def checkout(rev: str, into: Path) -> Path:
    """The files of git revision `rev` of this repository, written into the new folder `into` (no .git)."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into
