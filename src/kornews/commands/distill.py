"""`kornews distill TEACHER --out DIR`: a smaller, faster student of a run, written as an ordinary run directory
whose config.yaml names its teacher (`distill:`).

The student is the teacher with fewer encoder layers (evenly spaced, the top one kept; embeddings and head are
the teacher's), or with all of them reading fewer tokens (`--max-len` below the teacher's: it keeps the teacher's
frozen bottom and retrains the top on what the teacher says of whole articles). It is trained by the ordinary loop
on the teacher's training part plus each article's title alone (pair modes): the loss compares its softened logits
with the teacher's (and, with weight 1 - alpha, its prediction with the label), and with `hidden` each of its
layers' output with the teacher layer it came from. Unlabelled articles given with `--unlabeled` add examples that
only the teacher labels. The labelled validation split chooses the epoch and fits the student's own temperature, so
its confidence is calibrated like any run's.
"""
import dataclasses
import json
from pathlib import Path

from kornews.commands.train import train_run
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.modes import mode as mode_row
from kornews.training import config
from kornews.training.ways import DistillConfig

# measured on the demo's run (docs/benchmarks.md, "Distilled students"): a 2-layer student still gained on
# validation in its 8th epoch at the teacher's rate; headline copies (the teacher's word on each title alone) raised
# its YNAT headline accuracy 0.47 → 0.56 and cost nothing on knews8
EPOCHS, TITLE_COPIES = 8, 1.0
# a full-depth student starts as the teacher and needs only to adjust to its shorter input: on the demo's run (all 12
# layers at 128 tokens, docs/benchmarks.md "A student that reads less") the teacher's full rate for 8 epochs gave
# knews8 test 0.853 and YNAT headlines 0.635, a quarter of it for 4 epochs 0.869 and 0.678 (the teacher 0.672)
FULL_DEPTH_EPOCHS, FULL_DEPTH_LR_SHARE = 4, 0.25


def distill_run(teacher, out, *, layers=2, unlabeled=None, max_len=None, epochs=None, lr=None, alpha=None,
                temperature=None, hidden=None, encoding=None, overrides=(), progress=True, log=print) -> dict:
    """Distil run `teacher` into an `layers`-layer student run directory `out`; returns its final metrics.
    `overrides`: `--key=value` changes of the student's recipe (for instance `--title_copies=1`), applied last."""
    teacher = rundir.require(teacher, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KornewsError(f"{out}: run directory exists and is not empty (choose another --out, or resume it "
                           "with kornews train --resume)")
    if str(unlabeled) == "-":
        raise KornewsError("distill reads its unlabelled articles again when resumed: give a file or a dataset, not -")
    depth = json.loads((teacher / rundir.MODEL / "config.json").read_text(encoding="utf-8")).get("num_hidden_layers")
    cfg = config.read_run(teacher)
    if isinstance(depth, int) and not 1 <= layers <= depth:
        raise KornewsError(f"--layers must be 1 to {depth} for a teacher of {depth} layers, got {layers}")
    full_depth = layers == depth
    defaults = DistillConfig(teacher="")
    plan = DistillConfig(teacher=str(teacher.resolve()), layers=layers, unlabeled=unlabeled, encoding=encoding,
                         alpha=defaults.alpha if alpha is None else alpha,
                         temperature=defaults.temperature if temperature is None else temperature,
                         hidden=defaults.hidden if hidden is None else hidden)
    # a shallower student trains every layer (a stack the teacher never ran as such); a full-depth one keeps the
    # teacher's frozen bottom, which is still the backbone's. A teacher's pseudo-labels are not carried over: its
    # soft labels of the same articles can be given as --unlabeled
    teacher_len = cfg.max_len
    # the student's head is its teacher's (head_init fits a new one, which only a fresh run has)
    cfg = dataclasses.replace(cfg, distill=plan, adapt=None, head_init="random",
                              freeze_layers=cfg.freeze_layers if full_depth else 0, max_len=max_len or cfg.max_len,
                              epochs=epochs or (FULL_DEPTH_EPOCHS if full_depth else EPOCHS),
                              lr=lr or cfg.lr * (FULL_DEPTH_LR_SHARE if full_depth else 1.0),
                              title_copies=TITLE_COPIES if mode_row(cfg.mode).pair else 0.0)
    # every bound, and the unlabelled articles readable, before anything is written
    cfg = config.load(None, overrides, base=config.to_dict(cfg))
    if full_depth and cfg.max_len >= teacher_len:
        raise KornewsError(f"a student of all {depth} layers must read fewer tokens than its teacher ({teacher_len}): "
                           f"give --max-len below it, or --layers below {depth}")
    if cfg.distill.hidden and cfg.max_len != teacher_len:
        raise KornewsError(f"--hidden matches the teacher's layer outputs token by token: the student must read the "
                           f"teacher's {teacher_len} tokens, not {cfg.max_len}")
    if cfg.distill.unlabeled is not None:
        articles.read(cfg.distill.unlabeled, mode=cfg.mode, columns=cfg.columns, labeled=False,
                      encoding=cfg.distill.encoding, quiet=True)
    log(f"distill: a {layers}-layer student of {teacher} into {out}")
    return train_run(cfg, out, progress=progress, log=log)
