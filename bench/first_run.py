"""The first ten minutes: the README's first command on a fresh clone (its own venv, an empty KORNEWS_HOME, so the
backbone is built too), timed in its parts, and what scoring the test split every epoch would add.

    python bench/first_run.py [--repo .] [--workdir /tmp/kornews-first-run]

The clone sits beside ../shared (as a user's checkout beside the data, or after `kornews data pull`). pip's own
download cache is whatever this machine has: a first install anywhere also downloads the wheels.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, publish, table  # noqa: E402


def timed(cmd, cwd, env, log) -> tuple[float, list]:
    """(seconds, [(seconds since the start, line) for each line the command printed])."""
    start, lines = time.perf_counter(), []
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                shell=isinstance(cmd, str))
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip()))
            out.write(f"{lines[-1][0]:8.1f} {line}")
        code = proc.wait()
    if code:
        raise SystemExit(f"failed ({code}): {cmd}; see {log}")
    return time.perf_counter() - start, lines


def phases(lines: list, total: float) -> list:
    """The demo's parts from the times its lines appeared: each stage of training announces itself in a line (data,
    backbone build, model, features, frozen layers, training), epoch lines end epochs, the first calibration line
    ends calibration, the test-accuracy line ends evaluation."""
    def first(prefix: str) -> float:
        return next(t for t, line in lines if line.startswith(prefix))

    epochs = [t for t, line in lines if re.match(r"epoch \d+: train_loss", line)]
    data, model, features = first("data:"), first("model:"), first("features:")
    frozen, training = first("frozen layers:"), first("training:")
    built = [t for t, line in lines if line.startswith("backbone ") and " built in " in line]
    building = [t for t, line in lines if line.startswith("backbone ") and ": building" in line]
    calibrated, evaluated = first("calibration:"), first("test accuracy")
    each = (epochs[-1] - epochs[0]) / max(len(epochs) - 1, 1)
    return [["demo: start until knews8 is read (imports, reading, the split)", f"{data:.0f}"],
            ["demo: backbone build (first use only)", f"{built[0] - building[0]:.0f}" if built else "0"],
            ["demo: model built, tokenising (token cache empty)", f"{features - model:.0f}"],
            ["demo: frozen bottom 8 layers computed once", f"{training - frozen:.0f}"],
            ["demo: epoch 1", f"{epochs[0] - training:.0f}"],
            [f"demo: each further epoch (mean of {len(epochs) - 1})", f"{each:.0f}"],
            ["demo: calibration (the saved model on the validation split)", f"{calibrated - epochs[-1]:.0f}"],
            ["demo: evaluation (320 test articles, report, plots, card)", f"{evaluated - calibrated:.0f}"],
            ["demo: three example articles, exit", f"{total - evaluated:.0f}"]]


def test_scoring_cost(python: Path, cwd: Path, env: dict) -> float:
    """Seconds the default recipe would spend scoring knews8:test after every epoch (its prefix cache + 4 passes)."""
    code = ("import time\n"
            "from kornews.core import runtime\n"
            "from kornews.model import modeling\n"
            "from kornews.training import config, setup\n"
            "cfg = config.load(None, [], base={'test': 'knews8:test'})\n"
            "p = setup.prepare(cfg)\n"
            "setup.freeze(p.model, cfg)\n"
            "t = time.time()\n"
            "with runtime.autocast(cfg.precision):\n"
            "    c = modeling.cache_prefix(p.model, p.test, cfg.freeze_layers, p.pad_id, cfg.eval_batch_size)\n"
            "    [modeling.doc_logits(p.model, c, p.pad_id, cfg.eval_batch_size) for _ in range(cfg.epochs)]\n"
            "print(time.time() - t)")
    out = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=str(ROOT))
    ap.add_argument("--workdir", default=str(ROOT.parent / "kornews-first-run"))  # beside ../shared
    args = ap.parse_args()
    where = machine()  # before the quarter hour of work: it needs the project's environment (torch)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", args.repo, str(work)], check=True)
    home = work / ".home"
    # unbuffered: each line reaches the timeline when printed, not when a pipe buffer fills
    env = {**__import__("os").environ, "KORNEWS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    install, _ = timed("python3 -m venv .venv && .venv/bin/pip install -q -e .", work, env, work / "install.log")
    demo, lines = timed([".venv/bin/kornews", "demo", "--quiet", "--out", "runs/demo"], work, env, work / "demo.log")
    run = work / "runs" / "demo"
    final, report = json.loads((run / "final.json").read_text()), json.loads((run / "report.json").read_text())
    extra = test_scoring_cost(work / ".venv" / "bin" / "python", work, env)
    rows = [["install (`pip install -e .`)", f"{install:.0f}"],
            ["`kornews demo` (backbone build, data, training, evaluation, examples)", f"{demo:.0f}"],
            ["of which training (final.json train_seconds)", f"{final['train_seconds']:.0f}"],
            *phases(lines, demo),
            ["**first command in all**", f"**{install + demo:.0f}** ({(install + demo) / 60:.1f} min)"],
            ["scoring the test split every epoch too (not done since this change)", f"+{extra:.0f}"]]
    text = "\n".join([
        "## The first ten minutes (README's first command, fresh clone)", "",
        f"`python bench/first_run.py` — {where}, {time.strftime('%Y-%m-%d')}; empty KORNEWS_HOME (backbone "
        f"built in the demo), pip cache as the machine had it. Demo test accuracy {report['accuracy']:.4f}.", "",
        table(["step", "seconds"], rows)])
    publish("first-run", text)


if __name__ == "__main__":
    main()
