"""The fine-tuning loop: AdamW, warmup + decay, clipping, early stopping on validation loss, resumable.

Runs as one process, or as several under `torchrun` / `accelerate launch` (DDP, gloo on CPU): batches are
sharded by rank, gradients all-reduced, and only rank 0 writes the run directory.
"""
import contextlib
import dataclasses
import io
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.metrics import f1_score
from tqdm.auto import tqdm
from transformers import get_scheduler
from transformers.utils import logging as hf_logging

from kornews.core import rundir, runtime
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir, atomic_write_bytes
from kornews.model import modeling
from kornews.training import setup, ways
from kornews.training.ema import Ema
from kornews.training.setup import Prepared
from kornews.training.ways import Way


def param_groups(model, cfg):
    """No weight decay on biases and LayerNorm; optional layer-wise lr decay from the top layer down."""
    layers = modeling.encoder_layers(model) if cfg.layer_lr_decay < 1 else None
    depth = {}
    if layers is not None:
        for i, layer in enumerate(layers):
            for p in layer.parameters():
                depth[id(p)] = len(layers) - i
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if layers is not None and id(p) not in depth and "embeddings" in name:
            d = len(layers) + 1
        else:
            d = depth.get(id(p), 0)
        # embedding tables take no decay: AdamW would also shrink the rows a frozen table never updates
        no_decay = p.ndim < 2 or "norm" in name.lower() or "embeddings" in name or name in ("table.weight", "rows")
        key = (d, no_decay)
        group = groups.setdefault(key, {"params": [], "weight_decay": 0.0 if no_decay else cfg.weight_decay,
                                        "lr": cfg.lr * cfg.layer_lr_decay ** d})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def scores(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(np.asarray(y))).item()
    return loss, float((logits.argmax(1) == y).mean())


def _distributed():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path / "state.pt", buffer.getvalue())


def _save_model(run: Path, model, tokenizer) -> None:
    hf_logging.disable_progress_bar()  # a "Writing model shards" bar per epoch is noise
    with atomic_dir(run / rundir.MODEL) as tmp:
        modeling.save(model, tmp, tokenizer)


@dataclasses.dataclass
class Progress:
    """What changes from epoch to epoch, and what a checkpoint saves beside the weights."""
    history: list = dataclasses.field(default_factory=list)
    best_loss: float = math.inf
    bad_epochs: int = 0

    @property
    def epoch(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0


def train(cfg, out, *, way: Way | None = None, resume=False, progress=True, log=print) -> dict:
    """Fine-tune per `cfg` into run directory `out` (its way of training: the one `cfg` asks for, unless given);
    returns the final metrics."""
    out = Path(out)
    rank, world = _distributed()
    main = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _device(cfg, world)
    state = _open_run(out, resume)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    way = ways.of(cfg) if way is None else way
    p = setup.prepare(cfg, way, resumed=out if resume else None, log=log if main else None)
    p.model.to(device)  # built on the CPU first, so a seed starts from the same weights on every device
    way.to(device)
    setup.freeze_and_cache(p, cfg, log=log if main else None, progress=progress and main)
    # buffers (position ids) are constants, the same on every rank: broadcasting them each step is waste, and with
    # the frozen layers swapped out of the forward (cached prefix) DDP's broadcast asserted on an empty list
    ddp = torch.nn.parallel.DistributedDataParallel(p.model, broadcast_buffers=False) if world > 1 else p.model
    optimizer, scheduler = _optimizer(p, cfg, (rank, world))
    if state is not None:
        done = _restore(state, p.model, optimizer, scheduler)
        log(f"resuming {out} after epoch {done.epoch}")
    else:
        done = Progress()
        setup.start_head(p, cfg, log if main else None)
        if main and not resume:
            setup.start_run_dir(out, cfg, p, device)
    averager = Ema(p.model, cfg.ema) if cfg.ema else None  # after the head's start: the average starts from it
    if averager is not None and state is not None:
        averager.load_state_dict(state["ema"])
    if main:
        steps = len(modeling.batches(p.train, cfg.batch_size, shard=(rank, world)))
        log(f"training: {cfg.epochs} epochs at most of {steps} batches of {cfg.batch_size}"
            + (f" on each of {world} processes" if world > 1 else "") + f", lr {cfg.lr:g}, on {device}, into {out}")

    started = time.time() - (done.history[-1]["elapsed_s"] if done.history else 0.0)
    for epoch in range(done.epoch + 1, cfg.epochs + 1):
        if done.bad_epochs >= cfg.patience:
            break
        totals = _train_epoch(ddp, p, way, cfg, (optimizer, scheduler, averager), epoch, (rank, world),
                              progress and main, log if main else None)
        with _averaged(averager):
            row = _score_epoch(p, cfg, epoch, totals, scheduler)
        improved = row["val_loss"] < done.best_loss - cfg.min_delta
        done.best_loss, done.bad_epochs = (row["val_loss"], 0) if improved else (done.best_loss, done.bad_epochs + 1)
        row.update(best=improved, elapsed_s=round(time.time() - started, 1))
        done.history.append(row)
        if main:
            _end_epoch(out, p, row, done, (optimizer, scheduler, averager), log)
        if world > 1:
            dist.barrier()
    return _finish(out, p.model, done, (rank, world), log)


def _device(cfg, world: int) -> str:
    """The device the run trains on; several processes (DDP) share gradients over gloo, on the CPU."""
    if world > 1:
        if cfg.device not in ("auto", "cpu"):
            raise KornewsError(f"device {cfg.device}: several training processes run on the CPU (gloo); use cpu")
        return "cpu"
    return runtime.device(cfg.device)


def _open_run(out: Path, resume: bool):
    """The checkpoint to resume from (None: start afresh); refuses a finished run or someone else's directory."""
    if resume:
        if (out / rundir.FINAL).is_file():
            raise KornewsError(f"{out}: training already finished")
        ckpt = out / rundir.CHECKPOINT / "state.pt"
        # killed before the first epoch ended: nothing to resume from, so the run starts over in place
        return torch.load(ckpt, weights_only=True, map_location="cpu") if ckpt.is_file() else None
    # every rank checks, so none starts work that rank 0 refuses; a verb may stage its inputs there first
    if out.exists() and any(p.name not in rundir.STAGED for p in out.iterdir()):
        raise KornewsError(f"{out}: run directory exists and is not empty (choose another --out or --resume)")
    return None


def _optimizer(p: Prepared, cfg, shard):
    optimizer = torch.optim.AdamW(param_groups(p.model, cfg), lr=cfg.lr)
    per_epoch = len(modeling.batches(p.train, cfg.batch_size, shard=shard))
    steps = math.ceil(per_epoch / cfg.grad_accum) * cfg.epochs
    schedule = "constant_with_warmup" if cfg.schedule == "constant" else cfg.schedule
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=int(cfg.warmup_ratio * steps),
                              num_training_steps=steps)
    return optimizer, scheduler


def _restore(state: dict, model, optimizer, scheduler) -> Progress:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves the saved moments to the parameters' device
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():  # a GPU run's dropout draws from CUDA's
        torch.cuda.set_rng_state(state["cuda_rng"])
    return Progress(history=state["history"], best_loss=state["best_loss"], bad_epochs=state["bad_epochs"])


def _averaged(averager: Ema | None):
    """The weights validation scores and the saved model holds: the average where the recipe keeps one."""
    return averager.applied() if averager is not None else contextlib.nullcontext()


def _train_epoch(ddp, p: Prepared, way: Way, cfg, trainers, epoch: int, shard, progress: bool, log):
    """One pass over this rank's batches; returns (loss sum, correct, seen, labelled) summed over all ranks."""
    optimizer, scheduler, averager = trainers
    ddp.train()
    device = modeling.device_of(p.model)
    order = modeling.batches(p.train, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch,
                              group_by_length=cfg.group_by_length, shard=shard)
    seen = correct = labelled = 0
    loss_sum = 0.0
    bar = tqdm(order, desc=f"epoch {epoch}", disable=not progress, leave=False)
    for step, idx in enumerate(bar, 1):
        batch = modeling.collate(p.train, idx, p.pad_id, labels=p.train_y, multiple=modeling.TRAIN_PAD_MULTIPLE)
        labels = batch.pop("labels").to(device)
        batch = modeling.to_device(batch, device)
        with runtime.autocast(cfg.precision, device):
            loss, logits = way.loss(ddp, batch, labels, idx, p.train.prefix)
        (loss / cfg.grad_accum).backward()
        if step % cfg.grad_accum == 0 or step == len(order):
            torch.nn.utils.clip_grad_norm_(p.model.parameters(), cfg.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if averager is not None:
                averager.update()
        if step % modeling.TRIM_EVERY == 0:
            runtime.release_memory()
        seen += len(idx)
        labelled += int((labels >= 0).sum())  # rows without a label count in the loss only
        pred = logits.argmax(1)
        rows = torch.arange(len(pred), device=pred.device)
        correct += int(way.allowed(labels, logits.shape[1])[rows, pred].sum())
        loss_sum += loss.item() * len(idx)
        if log is not None and (step % cfg.log_every == 0 or step == len(order)):
            line = (f"[Epoch {epoch} Batch {step}/{len(order)}] loss={loss_sum / seen:.4f} "
                    f"lr={scheduler.get_last_lr()[0]:.3e} acc={correct / max(labelled, 1):.4f}")
            bar.write(line) if progress else log(line)
    bar.close()
    totals = torch.tensor([loss_sum, correct, seen, labelled], dtype=torch.float64)
    if dist.is_initialized():
        dist.all_reduce(totals)
    return totals


def _score_epoch(p: Prepared, cfg, epoch: int, totals, scheduler) -> dict:
    """The epoch's metrics row: training totals, validation (which chooses) and test (which never does)."""
    val_loss, val_acc = scores(modeling.doc_logits(p.model, p.val, p.pad_id, cfg.eval_batch_size), p.val_y)
    row = {"epoch": epoch, "train_loss": round(totals[0].item() / totals[2].item(), 6),
           "train_acc": round(totals[1].item() / max(totals[3].item(), 1), 6),
           "val_loss": round(val_loss, 6), "val_acc": round(val_acc, 6),
           "lr": scheduler.get_last_lr()[0]}
    if p.test is not None:
        test_logits = modeling.doc_logits(p.model, p.test, p.pad_id, cfg.eval_batch_size)
        test_loss, test_acc = scores(test_logits, p.test_y)
        macro = f1_score(p.test_y, test_logits.argmax(1), average="macro")
        row.update(test_loss=round(test_loss, 6), test_acc=round(test_acc, 6), test_macro_f1=round(macro, 6))
    return row


def _end_epoch(out: Path, p: Prepared, row: dict, done: Progress, trainers, log) -> None:
    """Rank 0: report the epoch, keep the model (the average, with `ema`) if it improved, and checkpoint the raw
    weights and what `trainers` (optimizer, scheduler, averager) hold for --resume."""
    optimizer, scheduler, averager = trainers
    log("epoch {epoch}: train_loss={train_loss:.4f} train_acc={train_acc:.4f} val_loss={val_loss:.4f} "
        "val_acc={val_acc:.4f}".format(**row)
        + (" test_acc={test_acc:.4f}".format(**row) if "test_acc" in row else "")
        + (" *" if row["best"] else ""))
    if row["best"]:
        with _averaged(averager):
            _save_model(out, p.model, p.tokenizer)
    rundir.write_metrics(out, done.history)
    _save_checkpoint(out / rundir.CHECKPOINT, {
        "model": p.model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "epoch": row["epoch"],
        "cuda_rng": torch.cuda.get_rng_state() if modeling.device_of(p.model).startswith("cuda") else None,
        "history": done.history, "best_loss": done.best_loss, "bad_epochs": done.bad_epochs,
        "ema": averager.state_dict() if averager is not None else None})


def _finish(out: Path, model, done: Progress, shard, log) -> dict:
    """final.json from the kept epoch; under DDP, proof that the replicas agree; the checkpoint removed."""
    rank, world = shard
    best = [r for r in done.history if r["best"]][-1]  # the epoch whose weights are in model/
    final = {"best_epoch": best["epoch"], "epochs_run": len(done.history), "val_loss": best["val_loss"],
             "val_acc": best["val_acc"], "train_seconds": done.history[-1]["elapsed_s"]}
    if "test_acc" in best:
        final.update(test_loss=best["test_loss"], test_acc=best["test_acc"])
    if world > 1:  # DDP keeps replicas identical; prove it rather than assume it
        checksum = torch.tensor([sum(p.detach().double().sum().item() for p in model.parameters())])
        gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(gathered, checksum.double())
        if len({round(g.item(), 6) for g in gathered}) != 1:
            raise RuntimeError(f"DDP ranks diverged: parameter checksums {[g.item() for g in gathered]}")
        if rank == 0:
            log(f"ranks agree: {world} processes, parameter checksum {checksum.item():.6f}")
    if rank == 0:
        rundir.write_json(out / rundir.FINAL, final)
        shutil.rmtree(out / rundir.CHECKPOINT, ignore_errors=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final
