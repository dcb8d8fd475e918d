"""`kornews soup RUN RUN [...] --out DIR`: one model whose weights are the mean of runs that differ only in seed
(a uniform model soup, Wortsman et al. 2022): what averaging several runs gives, at one run's prediction cost.

The runs must share everything but `seed`, and the seeds of their validation split and head (`split_seed`,
`init_seed`; a run without them used its `seed`): the same validation articles (the soup is calibrated on them, and
no member trained on them) and the same starting head (heads drawn apart have nothing to average). So a finished run
of seed 42 soups with runs trained `--seed=N --split_seed=42 --init_seed=42`. The soup is an ordinary run
directory; RUN/soup.json names its members."""
import dataclasses
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from kornews.commands.calibrate import calibrate_run
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir
from kornews.data.modes import mode as mode_row
from kornews.training import card, config

WEIGHTS = "model.safetensors"
# what members may differ in: the seed, and keys that change no weight (where progress goes, what it is scored on)
FREE = {"seed", "threads", "log_every", "test", "eval_batch_size"}
# unset, these follow `seed`: members must agree on the seeds in effect, however they were given
SEEDED = ("init_seed", "split_seed")


def soup_run(runs, out, *, log=print) -> Path:
    """Write the soup of `runs` into the new run directory `out`; returns it."""
    runs = [rundir.require(r, rundir.CONFIG, f"{rundir.MODEL}/{WEIGHTS}") for r in runs]
    if len(runs) < 2:
        raise KornewsError("a soup needs at least two runs")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KornewsError(f"{out}: already exists and is not empty (choose a new --out)")
    cfgs = [config.read_run(r) for r in runs]
    _check_members(runs, cfgs)
    mean = average([r / rundir.MODEL / WEIGHTS for r in runs])
    with atomic_dir(out) as tmp:
        shutil.copytree(runs[0] / rundir.MODEL, tmp / rundir.MODEL)
        save_file(mean, str(tmp / rundir.MODEL / WEIGHTS), metadata={"format": "pt"})
        shutil.copy2(runs[0] / rundir.CONFIG, tmp / rundir.CONFIG)
        rundir.write_json(tmp / rundir.SOUP, {"members": [str(r) for r in runs], "seeds": [c.seed for c in cfgs]})
    log(f"soup of {len(runs)} runs (seeds {', '.join(str(c.seed) for c in cfgs)}) in {out}")
    calibrate_run(out, log=log)
    card.write(out)
    return out


def average(paths) -> dict:
    """{name: the mean of that tensor over the safetensors files `paths`}, in fp32, saved in their dtype."""
    paths, total, dtypes = list(paths), None, {}
    for path in paths:
        weights = load_file(str(path))
        if total is None:
            total = {k: v.float() for k, v in weights.items()}
            dtypes = {k: v.dtype for k, v in weights.items()}
            continue
        if weights.keys() != total.keys() or any(weights[k].shape != total[k].shape for k in total):
            raise KornewsError(f"{path}: its tensors are not the first run's: the runs are not one architecture")
        for k, v in weights.items():
            total[k] += v.float()
    n = len(paths)
    return {k: (v / n).to(dtypes[k]) if dtypes[k].is_floating_point else v.to(dtypes[k]) for k, v in total.items()}


def _check_members(runs, cfgs) -> None:
    first = dataclasses.asdict(cfgs[0])
    for run, cfg in zip(runs[1:], cfgs[1:]):
        other = dataclasses.asdict(cfg)
        seeded = [k for k in SEEDED if _seed_of(cfgs[0], k) != _seed_of(cfg, k)]
        differ = sorted([k for k in first if k not in FREE | set(SEEDED) and first[k] != other[k]] + seeded)
        if differ:
            why = (" (a run trained without split_seed or init_seed uses its seed for it): each held out other "
                   "validation articles and started from another head, which cannot be averaged; train them with "
                   "--split_seed=N --init_seed=N") if seeded else ": a soup averages runs that differ only in seed"
            raise KornewsError(f"{run}: differs from {runs[0]} in {', '.join(differ)}{why}")
    seeds = [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise KornewsError(f"runs of the same seed ({', '.join(map(str, seeds))}): the same run twice?")
    if mode_row(cfgs[0].mode).clusters:
        raise KornewsError(f"mode {cfgs[0].mode} runs carry their own clusterer: only modes 1-3 can be souped")


def _seed_of(cfg, key) -> int:
    """The seed a run's validation split (`split_seed`) or head (`init_seed`) was drawn with: unset, the run's own."""
    value = getattr(cfg, key)
    return cfg.seed if value is None else value
