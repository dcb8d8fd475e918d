"""`kornews soup RUN RUN [...] --out DIR`: one model whose weights are the mean of runs that differ only in seed
(a uniform model soup, Wortsman et al. 2022): what averaging several runs gives, at one run's prediction cost.

The runs must share everything but `seed`, and `split_seed` and `init_seed` must be set: the same validation
articles (the soup is calibrated on them, and no member trained on them) and the same starting head (heads drawn
apart have nothing to average). The soup is an ordinary run directory; RUN/soup.json names its members."""
import dataclasses
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from .. import card, rundir
from ..errors import KornewsError
from ..files import atomic_dir
from ..modes import mode as mode_row
from .calibrate import calibrate_run

WEIGHTS = "model.safetensors"
# what members may differ in: the seed, and keys that change no weight (where progress goes, what it is scored on)
FREE = {"seed", "threads", "log_every", "test", "eval_batch_size"}


def soup_run(runs, out, *, log=print) -> Path:
    """Write the soup of `runs` into the new run directory `out`; returns it."""
    runs = [rundir.require(r, rundir.CONFIG, f"{rundir.MODEL}/{WEIGHTS}") for r in runs]
    if len(runs) < 2:
        raise KornewsError("a soup needs at least two runs")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KornewsError(f"{out}: already exists and is not empty (choose a new --out)")
    cfgs = [rundir.read_config(r) for r in runs]
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
        differ = sorted(k for k in first if k not in FREE and first[k] != other[k])
        if differ:
            raise KornewsError(f"{run}: differs from {runs[0]} in {', '.join(differ)}: a soup averages runs that "
                               "differ only in seed")
    seeds = [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise KornewsError(f"runs of the same seed ({', '.join(map(str, seeds))}): the same run twice?")
    unset = [k for k in ("split_seed", "init_seed") if first[k] is None]
    if unset:
        raise KornewsError(f"the runs were trained without {' and '.join(unset)}: each then held out other "
                           "validation articles and started from another head, which cannot be averaged; train "
                           f"them with --{unset[0]}=N" + (f" --{unset[1]}=N" if len(unset) > 1 else ""))
    if mode_row(cfgs[0].mode).clusters:
        raise KornewsError(f"mode {cfgs[0].mode} runs carry their own clusterer: only modes 1-3 can be souped")
