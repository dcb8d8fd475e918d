"""The `kornews` command: a table of thin verbs. Nothing here parses or imports heavy modules at import time."""
import argparse
import os
import sys

from kornews.core.errors import KornewsError
from kornews.core.version import __version__

# --- verbs: each parses nothing itself, calls one task, prints the result -------------------------

def cmd_backbone(args):
    from kornews.model import backbones
    if args.action == "pull":
        for name in args.names or [backbones.DEFAULT]:
            print(backbones.pull(name, force=args.force))
    elif args.action == "list":
        for row in backbones.list_backbones():
            state = "cached" if row["cached"] else "not built"
            print(f"{row['name']:<16} {state:<10} {row['description']}")
    elif args.action == "info":
        for key, value in backbones.info(args.names[0] if args.names else backbones.DEFAULT).items():
            print(f"{key:<20} {value}")


def cmd_data(args):
    if args.action == "info":
        from kornews.commands.data import data_info
        spec = None
        if args.run:
            from kornews.inference.classifier import locate
            spec = locate(args.run)[3]
        print(data_info(args.source, mode=spec.mode if spec else args.mode, columns=spec.columns if spec else None,
                        encoding=args.encoding))
    elif args.action == "pull":
        from kornews.commands.data import pull_dataset
        print(pull_dataset(args.source, to=args.to, force=args.force, progress=not args.quiet))


def cmd_train(args):
    from kornews.commands.train import default_run_dir, train_run
    from kornews.training import config
    if args.resume:
        cfg = config.read_run(args.resume)
        if args.recipe or args.extra:
            raise KornewsError("--resume continues a run as it was configured; drop the recipe and overrides")
        out = args.resume
    else:
        cfg = config.load(args.recipe, args.extra)
        out = args.out or default_run_dir(cfg)
    final = train_run(cfg, out, resume=bool(args.resume), progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun/accelerate only rank 0 reports
        print(f"run: {out}")
        print("final: " + " ".join(f"{k}={v}" for k, v in final.items()))


def cmd_evaluate(args):
    from kornews.commands.evaluate import evaluate
    from kornews.stats.metrics import markdown
    metrics = evaluate(args.run, args.data, encoding=args.encoding, progress=not args.quiet, engine=args.engine,
                       device=args.device)
    print(markdown(metrics, f"Evaluation of {args.run} on {args.data}"))


def cmd_predict(args):
    from kornews.commands.predict import predict_file
    predict_file(args.run, args.data, args.output, fmt=args.format, encoding=args.encoding, engine=args.engine,
                 threads=args.threads, ray=args.ray, actors=args.actors, progress=not args.quiet,
                 min_confidence=args.min_confidence, explain=args.explain, device=args.device)


def cmd_zero_shot(args):
    from kornews.commands.zero_shot import zero_shot
    zero_shot(args.data, args.output, labels=args.labels, backbone=args.backbone, fmt=args.format,
              encoding=args.encoding, log=lambda s: print(f"kornews: {s}", file=sys.stderr))


def cmd_choose(args):
    from kornews.commands.choose import choose_articles
    choose_articles(args.run, args.pool, args.output, n=args.n, strategy=args.strategy, seed=args.seed,
                    labeled=args.labeled, encoding=args.encoding, progress=not args.quiet,
                    log=lambda s: print(f"kornews: {s}", file=sys.stderr))


def cmd_monitor(args) -> int:
    import json

    from kornews.commands.monitor import as_dict, monitor_files
    say = (lambda s: None) if args.json else (lambda s: print(s))
    rows = monitor_files(args.run, args.files, embeddings=not args.no_embeddings, encoding=args.encoding,
                         min_accuracy=args.min_accuracy, max_ood=args.max_ood, plot=args.plot,
                         articles=args.articles, progress=not args.quiet, log=say)
    if args.json:
        for row in rows:
            print(json.dumps(as_dict(row), ensure_ascii=False))
    return 1 if any(row.alerts for row in rows) else 0  # a cron job's alert


def cmd_calibrate(args):
    from kornews.commands.calibrate import calibrate_run
    calibrate_run(args.run, args.data, encoding=args.encoding, target_accuracy=args.target_accuracy,
                  method=args.method)


def cmd_adapt(args):
    from kornews.commands.adapt import adapt_run, resume_adapt
    if args.resume:
        if args.run or args.unlabeled or args.extra:
            raise KornewsError("--resume continues an adaptation as it was planned; drop RUN, UNLABELED and "
                               "--key=value")
        resume_adapt(args.resume, progress=not args.quiet)
        return
    if not (args.run and args.unlabeled and args.out):
        raise KornewsError("usage: kornews adapt RUN UNLABELED --out DIR (or --resume DIR)")
    adapt_run(args.run, args.unlabeled, args.out, method=args.method, per_topic=args.per_topic,
              min_confidence=args.min_confidence, neighbours=args.neighbours, epochs=args.epochs, lr=args.lr,
              encoding=args.encoding, overrides=args.extra, progress=not args.quiet)


def cmd_learn(args):
    from kornews.commands.learn import learn_run, resume_learn
    if args.resume:
        if args.run or args.labels or args.extra:
            raise KornewsError("--resume continues a learning as it was planned; drop RUN, LABELS and --key=value")
        resume_learn(args.resume, progress=not args.quiet)
        return
    if not (args.run and args.labels and args.out):
        raise KornewsError("usage: kornews learn RUN LABELS --out DIR (or --resume DIR)")
    learn_run(args.run, args.labels, args.out, repeats=args.repeats, held_out=args.held_out, epochs=args.epochs,
              lr=args.lr, encoding=args.encoding, unlabeled=args.unlabeled, labeller=args.labeller,
              per_topic=args.per_topic, overrides=args.extra, progress=not args.quiet)


def cmd_distill(args):
    from kornews.commands.distill import distill_run
    final = distill_run(args.teacher, args.out, layers=args.layers, unlabeled=args.unlabeled, max_len=args.max_len,
                        epochs=args.epochs, lr=args.lr, alpha=args.alpha, temperature=args.temperature,
                        hidden=args.hidden, encoding=args.encoding, overrides=args.extra, progress=not args.quiet)
    print(f"run: {args.out}")
    print("final: " + " ".join(f"{k}={v}" for k, v in final.items()))


def cmd_soup(args):
    from kornews.commands.soup import soup_run
    soup_run(args.runs, args.out)


def cmd_export(args):
    from kornews.commands.export import export
    export(args.run, int8=args.int8)


def cmd_hybrid(args):
    from kornews.commands.hybrid import fit_hybrid
    fit_hybrid(args.run, args.fusion)


def _need_server(verb: str) -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:  # FastAPI and uvicorn are an extra: the demo never serves
        raise KornewsError(f"{verb} needs FastAPI and uvicorn ({e.name} is not installed): "
                           f"pip install 'kornews[serve]'") from None


def cmd_label(args):
    _need_server("label")
    from kornews.serve.label import serve_labels
    serve_labels(args.run, args.chosen, args.answers, host=args.host, port=args.port)


def cmd_serve(args):
    _need_server("serve")
    from kornews.serve import Settings, serve
    settings = Settings(run=args.run, engine=args.engine, threads=args.threads, device=args.device,
                        api_key=args.api_key or os.environ.get("KORNEWS_API_KEY") or None,
                        max_batch=args.max_batch, wait_ms=args.wait_ms, min_confidence=args.min_confidence,
                        monitor_window=args.monitor_window)
    serve(settings, host=args.host, port=args.port, workers=args.workers, access_log=not args.quiet)


def cmd_report(args):
    from kornews.commands.report import build_report
    from kornews.stats.metrics import markdown
    print(markdown(build_report(args.run), f"Evaluation of {args.run}"))


def cmd_demo(args):
    from kornews.commands.demo import demo
    demo(args.out, args.extra, progress=not args.quiet)


def cmd_experiment(args):
    from kornews.commands import experiment
    if args.grid == "report":
        if not args.dir:
            raise KornewsError("usage: kornews experiment report DIR")
        experiment.grid_report(args.dir, target=args.target)
    else:
        from pathlib import Path
        out = args.out or args.dir or f"runs/experiment-{Path(args.grid).stem}"
        experiment.run_grid(args.grid, out, progress=not args.quiet)


def cmd_cluster(args):
    from kornews.commands.cluster import cluster, summary_markdown
    try:
        ks = [int(k) for k in args.k.split(",") if k.strip()]
    except ValueError:
        raise KornewsError(f"--k takes whole numbers separated by commas, got {args.k!r}") from None
    summary = cluster(args.data, ks, args.embedder, args.out, test_source=args.test, progress=not args.quiet)
    print(summary_markdown(summary))


def _fusion_argument(p):
    from kornews.stats.tfidf import FUSIONS
    p.add_argument("--fusion", default="average", choices=FUSIONS,
                   help="how the two models' probabilities combine (see tfidf.py)")


def _continued_run_arguments(p, source: str, source_help: str, made: str, doing: str):
    """RUN SOURCE --out DIR, or --resume DIR: the arguments of a verb that makes a new run by continuing one."""
    p.add_argument("run", nargs="?", help=f"the run to {doing}")
    p.add_argument(source, nargs="?", help=source_help)
    p.add_argument("--out", help=f"the {made} run directory")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted one")


def _method_argument(p, help_text):
    from kornews.stats.transfer import METHODS
    p.add_argument("--method", default="self-train", choices=METHODS, help=help_text)


def _engine_argument(p):
    from kornews.inference.engines import CHOICES
    p.add_argument("--engine", default="auto", choices=CHOICES,
                   help="auto: the fastest the run has (an exported ONNX graph, else torch in bf16 where the CPU "
                        "has bf16 units)")
    p.add_argument("--device", default="auto", help="where a torch engine runs: auto (a CUDA GPU where torch sees "
                                                    "one, else the CPU), cpu, cuda or cuda:N")


VERBS = {
    # name: (help, function, argument builder)
    "backbone": ("pull, list or describe encoder backbones", cmd_backbone, lambda p: (
        p.add_argument("action", choices=["pull", "list", "info"]),
        p.add_argument("names", nargs="*", help="backbone names (default: me5-small-ko)"),
        p.add_argument("--force", action="store_true", help="rebuild even if cached"))),
    "data": ("what a source reads as (info), or download a named dataset (pull)", cmd_data, lambda p: (
        p.add_argument("action", choices=["info", "pull"]),
        p.add_argument("source", help="info: a named dataset (knews8, ynat), NAME:SPLIT, a file or -; "
                                      "pull: knews8 or ynat"),
        p.add_argument("--mode", type=int, help="info: read as this input mode (default: the richest it feeds)"),
        p.add_argument("--run", help="info: read as this run reads (its mode and columns)"),
        p.add_argument("--encoding", default=None, help="file encoding (default: detect utf-8, utf-8-sig, cp949)"),
        p.add_argument("--to", help="pull: the data home to write into (default: $KORNEWS_DATA, else "
                                    "$KORNEWS_HOME/data)"),
        p.add_argument("--force", action="store_true", help="pull: download again even if present"),
        p.add_argument("--quiet", action="store_true", help="pull: no progress bar"))),
    "train": ("fine-tune a classifier (RECIPE.yaml, then --key=value overrides)", cmd_train, lambda p: (
        p.add_argument("recipe", nargs="?", help="YAML recipe (see recipes/)"),
        p.add_argument("--out", help="run directory (default: runs/<backbone>-mode<N>-<time>)"),
        p.add_argument("--resume", metavar="RUN", help="continue an interrupted run"),
        p.add_argument("--quiet", action="store_true", help="no progress bars"),
        p.set_defaults(accepts_overrides=True))),
    "evaluate": ("score a run on labelled data; writes predictions, report and plots into the run", cmd_evaluate,
                 lambda p: (p.add_argument("run"), p.add_argument("data", help="dataset name or file"),
                            p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true"),
                            _engine_argument(p))),
    "predict": ("predict topics for articles (a file, a dataset, or - for stdin)", cmd_predict, lambda p: (
        p.add_argument("run"), p.add_argument("data", help="file, dataset name, or - for stdin"),
        p.add_argument("-o", "--output", default="-", help="output file (.csv or .jsonl), default stdout"),
        p.add_argument("--format", choices=["csv", "jsonl"], help="default: from the output name, else csv"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bar"),
        p.add_argument("--threads", type=int, help="threads for this process, or each Ray actor's cores "
                                                   "(default: all its cores; with --ray, the cores / --actors)"),
        p.add_argument("--actors", type=int, help="with --ray: the actor pool's size (default: the cluster's CPUs / "
                                                  "--threads, one thread each unless given)"),
        p.add_argument("--min-confidence", type=float, metavar="P",
                       help="mark articles whose top probability is below P for review (review column; default: "
                            "the run's threshold from `kornews calibrate`; 0: none)"),
        p.add_argument("--explain", type=int, metavar="K",
                       help="an explanation column: the K words that pushed each article's topic most"),
        p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                       help="predict with Ray Data actors: a local Ray on this machine, or ADDRESS (auto, "
                            "ray://host:10001)"),
        _engine_argument(p))),
    "zero-shot": ("topics without training: the pretrained encoder against topic descriptions (scored when the "
                  "data has labels)", cmd_zero_shot, lambda p: (
        p.add_argument("data", help="file, dataset name, or - for stdin"),
        p.add_argument("--labels", default="knews8",
                       help="the topics: knews8 (default), ynat, or a YAML file of `label: description` lines"),
        p.add_argument("--backbone", default="me5-small", help="an e5-style encoder (default: me5-small)"),
        p.add_argument("-o", "--output", default="-", help="output file (.csv or .jsonl), default stdout"),
        p.add_argument("--format", choices=["csv", "jsonl"], help="default: from the output name, else csv"),
        p.add_argument("--encoding"))),
    "choose": ("the articles of your own unlabelled news worth labelling for a run, as a CSV to fill in",
               cmd_choose, lambda p: (
        p.add_argument("run"),
        p.add_argument("pool", help="unlabelled articles: a file or a dataset (a label column there is never read)"),
        p.add_argument("-n", type=int, default=100, help="how many to choose (default 100)"),
        p.add_argument("-o", "--output", required=True, help="the CSV to write (its label column empty)"),
        p.add_argument("--strategy", default="default",
                       help="default (the least sure article of each of n clusters), uncertainty, diversity, random"),
        p.add_argument("--seed", type=int, default=0),
        p.add_argument("--labeled", metavar="FILE", help="articles labelled before (by id): never chosen again"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bars"))),
    "label": ("a page to label the articles choose picked, one at a time by keyboard; every answer saved at once",
              cmd_label, lambda p: (
        p.add_argument("run", help="the run whose topics the buttons offer"),
        p.add_argument("chosen", help="the sheet kornews choose wrote"),
        p.add_argument("--answers", required=True, metavar="FILE",
                       help="where answers go (JSON lines, appended; kornews learn reads it; resumed if it exists)"),
        p.add_argument("--host", default="127.0.0.1"), p.add_argument("--port", type=int, default=8000))),
    "learn": ("teach a run your labelled articles (a filled-in choose sheet or the label page's answers): a new run "
              "directory with an estimate of its accuracy on your news", cmd_learn, lambda p: (
        _continued_run_arguments(p, "labels", "your labelled articles: an article's last answer counts, an empty "
                                              "label is none", "taught", "teach"),
        p.add_argument("--repeats", type=int, help="your training labels this many times an epoch (default 4)"),
        p.add_argument("--held-out", type=float, help="without choose's random checks, the share of your labels held "
                                                      "out to choose the epoch and estimate accuracy (default 0.25)"),
        p.add_argument("--unlabeled", metavar="POOL", help="also train on the surest articles of each topic in your "
                                                         "unlabelled pool, pseudo-labelled"),
        p.add_argument("--labeller", metavar="RUN", help="the run whose probabilities pseudo-label POOL (default: the "
                                                         "run taught; in rounds, the one that chose)"),
        p.add_argument("--per-topic", type=int, default=1000, help="pseudo-labels per topic at most"),
        p.add_argument("--epochs", type=int, help="epochs at most (default 3, or fewer if the recipe has)"),
        p.add_argument("--lr", type=float, help="learning rate (default: half the recipe's)"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bars"),
        p.set_defaults(accepts_overrides=True))),
    "monitor": ("is new news still what the run knows? per file: estimated accuracy, drift, out-of-distribution "
                "share; exit status 1 on an alert", cmd_monitor, lambda p: (
        p.add_argument("run"), p.add_argument("files", nargs="+", metavar="FILE",
                                              help="unlabelled articles, one batch a file (a day's, say), or -"),
        p.add_argument("--min-accuracy", type=float, metavar="A", help="alert where the estimate falls below A"),
        p.add_argument("--max-ood", type=float, metavar="S",
                       help="alert where more than this share is out of distribution"),
        p.add_argument("--no-embeddings", action="store_true",
                       help="skip the sentence-embedding tests (they cost an encoder pass per article)"),
        p.add_argument("--plot", metavar="PNG", help="the figures over the files"),
        p.add_argument("--articles", metavar="CSV", help="each article's out-of-distribution score and flag"),
        p.add_argument("--json", action="store_true", help="one JSON line per file instead of the text lines"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bars"))),
    "calibrate": ("fit the run's calibration and review threshold on labelled data (default: its validation split)",
                  cmd_calibrate, lambda p: (
                      p.add_argument("run"),
                      p.add_argument("data", nargs="?", help="labelled file or dataset (default: validation)"),
                      p.add_argument("--encoding"),
                      p.add_argument("--target-accuracy", type=float, default=0.95,
                                     help="the review threshold keeps the most articles at this accuracy"),
                      p.add_argument("--method", metavar="temperature|top-label",
                                     help="one temperature, or top-label scaling (default: the run's "
                                          "calibration_method)"))),
    "adapt": ("adapt a run to unlabelled articles of another source (a new run directory; --key=value changes the "
              "continued training's recipe)", cmd_adapt, lambda p: (
        _continued_run_arguments(p, "unlabeled", "articles of the target source: a file or a dataset (a label "
                                                 "column there is never read)", "adapted", "adapt"),
        _method_argument(p, "self-train (default): continue training on the target articles surest after label "
                            "spreading; prior: re-weight for the target's topic mix as EM estimates it (seconds); "
                            "self-train+prior: both"),
        p.add_argument("--per-topic", type=int, default=1000, help="self-training: pseudo-labels per topic at most"),
        p.add_argument("--min-confidence", type=float, metavar="P",
                       help="self-training: pseudo-label only articles this sure (default: none after spreading, "
                            "else the run's review threshold)"),
        p.add_argument("--neighbours", type=int, default=30,
                       help="self-training: spread the run's probabilities over each article's K nearest "
                            "(me5-small) before picking; 0: no spreading"),
        p.add_argument("--epochs", type=int, help="self-training epochs (default: 2, or fewer if the recipe has)"),
        p.add_argument("--lr", type=float, help="self-training learning rate (default: a quarter of the recipe's)"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bars"),
        p.set_defaults(accepts_overrides=True))),
    "distill": ("a faster student with fewer layers, trained on a run's probabilities (a new run directory; "
                "--key=value changes its recipe; continue an interrupted one with kornews train --resume DIR)",
                cmd_distill, lambda p: (
        p.add_argument("teacher", help="the run to distil"),
        p.add_argument("--out", required=True, help="the student run directory"),
        p.add_argument("--layers", type=int, default=2,
                       help="the student's encoder layers (default 2: measured the fastest, and 4 or 6 were no more "
                            "accurate; the teacher's all, with a shorter --max-len, reads less instead)"),
        p.add_argument("--unlabeled", metavar="FILE",
                       help="more articles (a file or a dataset) the teacher labels for the student; a label "
                            "column there is never read"),
        p.add_argument("--max-len", type=int, help="the student's input length (default: the teacher's)"),
        p.add_argument("--epochs", type=int, help="default: 8 (4 for a student of all the teacher's layers)"),
        p.add_argument("--lr", type=float,
                       help="default: the teacher recipe's (a quarter of it for a student of all its layers)"),
        p.add_argument("--alpha", type=float, help="weight of the teacher's probabilities in the loss (default 0.9)"),
        p.add_argument("--temperature", type=float, help="softening of both sides' logits (default 2)"),
        p.add_argument("--hidden", type=float, help="weight of matching each student layer's output to the "
                                                    "teacher layer it was taken from (default 0: off)"),
        p.add_argument("--encoding"), p.add_argument("--quiet", action="store_true", help="no progress bars"),
        p.set_defaults(accepts_overrides=True))),
    "soup": ("one model averaging the weights of runs that differ only in seed (a new run directory)", cmd_soup,
             lambda p: (p.add_argument("runs", nargs="+", help="run directories trained with the same split_seed "
                                                                  "and init_seed (unset: the run's seed)"),
                        p.add_argument("--out", required=True, help="the soup's run directory"))),
    "export": ("write the run's classifier as an ONNX graph (RUN/onnx/), checked against PyTorch", cmd_export,
               lambda p: (p.add_argument("run"),
                          p.add_argument("--int8", action="store_true", help="dynamic int8 quantisation"))),
    "hybrid": ("add a TF-IDF model and a fusion fitted on validation to a finished run (RUN/hybrid/)", cmd_hybrid,
               lambda p: (p.add_argument("run"), _fusion_argument(p))),
    "serve": ("a REST API (/v1/classify, /docs) and a web page (/) over a run's classifier", cmd_serve, lambda p: (
        p.add_argument("run"),
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)"),
        p.add_argument("--port", type=int, default=8000),
        p.add_argument("--workers", type=int, default=1, help="server processes, each with its share of the cores"),
        p.add_argument("--api-key", help="require this key in the X-API-Key header (default: $KORNEWS_API_KEY)"),
        p.add_argument("--threads", type=int, help="threads per worker (default: its share of the cores)"),
        p.add_argument("--max-batch", type=int, default=32,
                       help="articles gathered from concurrent requests into one model call (1: no gathering)"),
        p.add_argument("--wait-ms", type=float, default=5.0, help="how long a lone request waits for company"),
        p.add_argument("--min-confidence", type=float, metavar="P",
                       help="results below P are marked review (default: the run's threshold; 0: none)"),
        p.add_argument("--monitor-window", type=int, default=500, metavar="N",
                       help="the last N articles /v1/monitor and /metrics describe (default 500; 0: off)"),
        p.add_argument("--quiet", action="store_true", help="no access log"),
        _engine_argument(p))),
    "report": ("rebuild a run's report and plots from its saved predictions", cmd_report,
               lambda p: p.add_argument("run")),
    "cluster": ("k-means over sentence embeddings: cluster x category tables, purity, NMI, ARI", cmd_cluster,
                lambda p: (p.add_argument("data", help="dataset name or file with title, body and category"),
                           p.add_argument("--k", default="8,16,32,64", help="cluster counts, comma-separated"),
                           p.add_argument("--embedder", default="use",
                                          help="use | me5-small | a sentence-transformers id"),
                           p.add_argument("--test", help="also score this dataset, assigned with the train centroids"),
                           p.add_argument("--out", default="clusters", help="output directory"),
                           p.add_argument("--quiet", action="store_true"))),
    "experiment": ("run a grid of recipes over seeds (GRID.yaml), or rebuild its report (report DIR)", cmd_experiment,
                   lambda p: (p.add_argument("grid", help="GRID.yaml (see experiments/), or 'report'"),
                              p.add_argument("dir", nargs="?", help="with 'report': the experiment directory"),
                              p.add_argument("--out", help="experiment directory (default runs/experiment-<grid>)"),
                              p.add_argument("--target", type=float,
                                             help="with 'report': the test accuracy for epochs/seconds to target "
                                                  "(default: the grid's)"),
                              p.add_argument("--quiet", action="store_true"))),
    "demo": ("train, evaluate and predict on knews8 with the default recipe", cmd_demo, lambda p: (
        p.add_argument("--out", help="run directory (default: runs/demo-<time>)"),
        p.add_argument("--quiet", action="store_true"),
        p.set_defaults(accepts_overrides=True))),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kornews", description="Fine-tune transformer encoders to classify Korean news by topic.")
    parser.add_argument("--version", action="version", version=f"kornews {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (help_text, func, add_args) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        add_args(p)
        p.set_defaults(func=func)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    args.extra = extra
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = args.func(args)
    except KornewsError as e:
        print(f"kornews: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kornews: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a read-only or full disk, a vanished file: one line, not a traceback
        print(f"kornews: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    return int(code or 0)  # a verb may answer with a status (monitor: 1 on an alert)


if __name__ == "__main__":
    sys.exit(main())
