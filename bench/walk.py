"""How far does one `kornews train` call wander through the code? A training call on a small slice is traced with
the code of a git revision and with the working tree's: every change of the kornews module whose code is running
(a call into another module, or a return to the caller's) is a step of the walk; a step into a module of a higher
layer (one that imports, directly or not, the module it leaves) climbs back up.

    python bench/walk.py --base e8ef8c9

Counted once per distinct step (module a → module b), so the numbers describe the code's shape, not the data's size;
module and class bodies running at import are not steps.
"""
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, base_parser, checkout, machine, publish, section

TRACER = r'''
import json, sys, threading
from pathlib import Path
src = Path(sys.argv[1]).resolve()
stack, steps = [], []

def module(frame):
    f = frame.f_code.co_filename
    # module and class bodies run at import (no CO_OPTIMIZED flag): the walk is the functions' calls and returns
    if not f.startswith(str(src)) or not f.endswith(".py") or not frame.f_code.co_flags & 1:
        return None
    parts = Path(f).resolve().relative_to(src.parent).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")

def profile(frame, event, arg):
    if event not in ("call", "return"):
        return
    mod = module(frame)
    if mod is None:
        return
    before = stack[-1] if stack else None
    if event == "call":
        stack.append(mod)
    elif stack:
        stack.pop()
    after = stack[-1] if stack else None
    if before and after and before != after:
        steps.append((before, after))

sys.argv = ["kornews"] + sys.argv[3:]
from kornews.cli import main
threading.setprofile(profile)
sys.setprofile(profile)
try:
    code = main()
finally:
    sys.setprofile(None)
    Path(__import__("os").environ["WALK_OUT"]).write_text(json.dumps(steps))
sys.exit(code)
'''


def imports(src: Path) -> dict:
    """module → the kornews modules it imports (at module level or inside functions)."""
    deps = {}
    for f in src.rglob("*.py"):
        parts = f.relative_to(src).with_suffix("").parts
        mod = ".".join(p for p in parts if p != "__init__")
        package = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = (".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                 + ([node.module] if node.module else [])) if node.level else node.module or "")
                if base.startswith("kornews"):
                    found |= {f"{base}.{a.name}" for a in node.names} | {base}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("kornews")}
        deps[mod] = found
    known = set(deps)
    return {m: {d for d in ds if d in known and d != m} for m, ds in deps.items()}


def above(deps: dict) -> dict:
    """module → every module it reaches through imports (it is above all of them)."""
    reach = {}

    def walk(m, seen):
        for d in deps.get(m, ()):
            if d not in seen:
                seen.add(d)
                walk(d, seen)
        return seen
    for m in deps:
        reach[m] = walk(m, set())
    return reach


def layers(tree: Path) -> list[list[str]]:
    """The first import-linter contract's layers, top first: the layers the project states."""
    import tomllib
    contract = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def layer_of(module: str, stated: list[list[str]]) -> int | None:
    return next((i for i, names in enumerate(stated) for n in names if module == n or module.startswith(n + ".")),
                None)


def trace(tree: Path, args: list[str], tmp: Path) -> dict:
    out = tmp / "steps.json"
    script = tmp / "tracer.py"
    script.write_text(TRACER)
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "WALK_OUT": str(out)}
    subprocess.run([sys.executable, str(script), str(tree / "src" / "kornews"), "--", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    steps = {tuple(s) for s in json.loads(out.read_text())}
    reach = above(imports(tree / "src"))
    modules = {m for s in steps for m in s}
    climbs = {(a, b) for a, b in steps if a in reach.get(b, ())}  # b imports a: a step back up
    stated = layers(tree)
    up = {(a, b) for a, b in steps
          if None not in (layer_of(a, stated), layer_of(b, stated)) and layer_of(b, stated) < layer_of(a, stated)}
    return {"modules": len(modules), "steps": len(steps), "climbs": len(climbs), "layers": len(stated),
            "layer climbs": len(up)}


def main():
    args = base_parser(__doc__, "walk").parse_args()
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = checkout(args.base, tmp / "base-tree")
        for label, tree in ((args.base, base), ("working tree", ROOT)):
            run = tmp / f"run-{len(rows)}"
            cmd = ["train", "--quiet", "--out", str(run), "--epochs=1", "--max_len=32", "--freeze_layers=10",
                   "--train=knews8:test", "--val_fraction=0.25"]
            walk = trace(tree, cmd, tmp)
            rows.append([label, walk["modules"], walk["steps"], walk["climbs"], walk["layers"], walk["layer climbs"]])
            print(label, walk, flush=True)
    text = section(f"How far one training call wanders (base {args.base})",
                   f"`python bench/walk.py --base {args.base}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
                   "`kornews train --epochs=1 --max_len=32 --freeze_layers=10 --train=knews8:test` traced; "
                   f"{(time.time() - started) / 60:.0f} minutes.",
                   ["code", "kornews modules visited", "distinct steps between modules", "climbs to an importer",
                    "layers stated", "climbs to a higher layer"], rows,
                   "A step is a change of the running kornews module (a call into another, or a return); a climb "
                   "to an importer enters a module that imports, directly or not, the one it leaves; a climb to a "
                   "higher layer enters a module of a layer above the one it leaves, in the layers pyproject.toml "
                   "states for import-linter (15 of modules before the packages, 8 of packages after).")
    publish(args.section, text)


if __name__ == "__main__":
    main()
