"""``fit``: the training loop. Cheap to call many times in one process; never prints.

Host syncs are batched: each step leaves its loss and error on the device, and they are read
back once per log interval (every step only while He et al.'s error-triggered warm-up is
deciding), which is also where a non-finite loss is noticed and the run stopped as diverged.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from reslab.data import DataBundle, Loader
from reslab.models import count_depth
from reslab.training.callbacks import Callback, StepState
from reslab.training.checkpoint import (
    load_model_state,
    load_optimizer_state,
    model_tensors,
    optimizer_tensors,
    read_checkpoint,
    remove_stale_temps,
    save_checkpoint,
)
from reslab.training.config import TrainConfig, validate
from reslab.training.distributed import DistContext, all_reduce_sum, local_rank, setup_distributed
from reslab.training.env import environment
from reslab.training.errors import CheckpointError, ConfigError
from reslab.training.evaluate import evaluate
from reslab.training.metrics import MetricsLog
from reslab.training.objective import class_dim, loss, wrong_and_count
from reslab.training.optim import build_optimizer, clip_gradients, set_lr
from reslab.training.precision import autocast, check_precision, grad_scaler, resolve_device
from reslab.training.prepare import (
    backend_flags,
    channels_last,
    check_compatible,
    eval_loader,
    make_loaders,
    model_name,
    prepare_model,
)
from reslab.training.result import TrainResult
from reslab.training.rng import capture_rng, restore_rng, seed_everything
from reslab.training.rundir import RunDir, check_run_dir, write_json, write_yaml
from reslab.training.schedule import ErrorWarmup, lr_at, uses_error_warmup
from reslab.training.window import Window


def fit(
    model: nn.Module,
    data: DataBundle,
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
    resume: bool = False,
    callbacks: Sequence[Callback] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` as ``config`` says. With ``out_dir=None`` nothing is written;
    otherwise the run directory of docs/training.md. Under ``torchrun`` this is one rank of a
    data-parallel run. Every setup error (``ConfigError``) is raised before the first step."""
    config = validate(config)
    if resume and out_dir is None:
        raise ConfigError("resume=True needs out_dir, the run directory to resume")
    dev = resolve_device(device, local_rank())
    check_precision(config.train.precision, dev)
    check_compatible(model, data)
    ctx = setup_distributed(dev.type)
    run = None
    if out_dir is not None:
        run = check_run_dir(out_dir, resume) if ctx.is_main else RunDir(Path(out_dir))
    # Record what actually runs, not the recipe's defaults.
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, name=model_name(model)),
        data=dataclasses.replace(config.data, name=data.name),
    )
    with backend_flags(config.train.deterministic, dev):
        seed_everything(config.train.seed + ctx.rank)
        trainer = _Trainer(model, data, config, run, dev, ctx, callbacks or ())
        return trainer.run(resume=resume, progress=progress and ctx.is_main)


class _Trainer:
    def __init__(
        self, model: nn.Module, data: DataBundle, config: TrainConfig, run: RunDir | None,
        device: torch.device, ctx: DistContext, callbacks: Sequence[Callback],
    ) -> None:  # fmt: skip
        self.config, self.loop, self.data = config, config.train, data
        self.run_dir, self.device, self.ctx, self.callbacks = run, device, ctx, callbacks
        self.writes = run is not None and ctx.is_main
        self.models = prepare_model(model, self.loop, device, ctx)
        self.class_dim = class_dim(model)
        self.nhwc = channels_last(model, self.loop)
        self.loaders = make_loaders(data, config.data, self.loop.seed, device, ctx)
        self.steps_per_epoch = len(self.loaders.train)
        epochs = self.loop.epochs or 0  # validate() made sure one of steps/epochs is set
        self.total = self.loop.steps or epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(model, config.optim)
        self.scaler = grad_scaler(self.loop.precision, device)
        self.warmup = None
        if uses_error_warmup(config.schedule, count_depth(model)):
            s = config.schedule
            self.warmup = ErrorWarmup(s.low_lr, s.error_warmup_until, s.error_warmup_window)
        self.step = self.epoch = self.batch = 0  # batch: batches of ``epoch`` already trained
        self.pending: list[torch.Tensor] = []  # per step: (loss sum, wrong, targets)
        self.interval, self.epoch_window = Window(), Window()
        self.history: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self.best_val_err = math.inf
        self.diverged_step: int | None = None
        self.elapsed = 0.0  # seconds spent in earlier segments of a resumed run
        self.started = time.perf_counter()
        self.log: MetricsLog | None = None
        self.last_loss = torch.zeros(())

    # -- the run ------------------------------------------------------------------------------

    def run(self, *, resume: bool, progress: bool) -> TrainResult:
        resumed = self._load() if resume else None
        env = environment(self.device, self.loop.seed, self.ctx.world_size)
        if self.writes:
            assert self.run_dir is not None
            self.run_dir.checkpoints.mkdir(exist_ok=True)
            remove_stale_temps(self.run_dir.checkpoints)
            write_yaml(self.run_dir.config, self.config.to_dict())
            write_json(self.run_dir.env, env)
            self.log = MetricsLog(self.run_dir.metrics, self.run_dir.tensorboard, resumed)
        for callback in self.callbacks:
            callback.on_train_start(self._state())
        self.started = time.perf_counter()
        bar = tqdm(total=self.total, initial=self.step, disable=not progress, unit="step",
                   dynamic_ncols=True)  # fmt: skip
        try:
            while self.step < self.total and self.diverged_step is None:
                self._run_epoch(bar)
        finally:
            bar.close()
            if self.log is not None:
                self.log.close()
        final = self._final() if self.diverged_step is None else {}
        result = TrainResult(
            history=self.history, epochs=self.epochs, final=final,
            status="completed" if self.diverged_step is None else "diverged",
            diverged_step=self.diverged_step, wall_s=self._seconds(),
            steps=self.step, config=self.config.to_dict(), env=env,
        )  # fmt: skip
        if self.writes:
            assert self.run_dir is not None
            result.save(self.run_dir.summary)
        return result

    def _run_epoch(self, bar: tqdm) -> None:
        loader = self.loaders.train
        loader.set_epoch(self.epoch)
        self.models.train.train()  # a model handed over in eval mode must still train as one
        self.interval.resume()
        # A resumed epoch skips the batches already trained: the order is a pure function of
        # (seed, epoch), so these are exactly the batches the interrupted run went on to.
        for x, y in islice(iter(loader), self.batch, None):
            self._train_step(x, y)
            self.step += 1
            self.batch += 1
            bar.update(1)
            if self._after_step(bar):
                return
            if self.step >= self.total:
                break
        self._end_epoch()

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        warmup = self.warmup
        lr = warmup.lr if warmup is not None and warmup.active else self._scheduled_lr()
        set_lr(self.optimizer, lr)
        if self.nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.loop.precision, self.device):
            logits = self.models.train(x)
            objective = loss(logits, y, dim=self.class_dim,
                             label_smoothing=self.loop.label_smoothing)  # fmt: skip
        if self.scaler is not None:
            self.scaler.scale(objective).backward()
            clip_gradients(self.optimizer, self.config.optim.grad_clip, self.scaler)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            objective.backward()
            clip_gradients(self.optimizer, self.config.optim.grad_clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.last_loss = objective.detach()
        # Per target, not per sample: a mask or a text window holds many targets each.
        wrong, n = wrong_and_count(logits.detach(), y, dim=self.class_dim)
        self.pending.append(torch.stack([self.last_loss.double() * n, wrong.double(), n.double()]))

    def _scheduled_lr(self) -> float:
        return lr_at(self.step, self.total, self.config.optim.lr, self.config.schedule)

    def _after_step(self, bar: tqdm) -> bool:
        """Log, check, checkpoint, call back; True when the run must stop (diverged)."""
        every = self.loop.checkpoint_every
        # Every rank takes the same decisions here: a flush is a collective under DDP.
        checkpoint_due = every > 0 and self.step % every == 0
        if self.step % self.loop.log_every == 0 or checkpoint_due or self._warming_up():
            self._flush()
        if self.diverged_step is not None:
            return True
        if self.step % self.loop.log_every == 0:
            self._log_interval(bar)
        if checkpoint_due and self.writes:
            self._save_latest()
        for callback in self.callbacks:
            callback.on_step_end(self._state())
        return False

    def _warming_up(self) -> bool:
        return self.warmup is not None and self.warmup.active

    def _flush(self) -> None:
        """Read back the pending steps' losses (one sync, one all-reduce) and account them."""
        if not self.pending:
            return
        # Summed over ranks: each step's loss, errors and target count for the global batch.
        stats = all_reduce_sum(torch.stack(self.pending), self.ctx).tolist()
        first = self.step - len(self.pending) + 1
        for i, (loss_sum, wrong, n_all) in enumerate(stats):
            n_all = int(n_all)
            if not math.isfinite(loss_sum):
                self.diverged_step = first + i
                break
            if self.warmup is not None:
                self.warmup.update(wrong / n_all)
            self.interval.add(loss_sum, wrong, n_all)
            self.epoch_window.add(loss_sum, wrong, n_all)
        self.pending = []

    def _log_interval(self, bar: tqdm) -> None:
        lr = self.optimizer.param_groups[0]["lr"]
        entry = {
            "step": self.step, "epoch": self.step / self.steps_per_epoch, "lr": lr,
            "train_loss": self.interval.loss, "train_err": self.interval.err,
            "img_s": self.interval.images_per_second(),
        }  # fmt: skip
        self.history.append(entry)
        if self.log is not None:
            self.log.log("step", entry)
        bar.set_postfix(loss=f"{entry['train_loss']:.3f}", acc=f"{1 - entry['train_err']:.3f}",
                        lr=f"{lr:.3g}", img_s=f"{entry['img_s']:.0f}")  # fmt: skip
        self.interval = Window()

    def _end_epoch(self) -> None:
        self._flush()
        if self.diverged_step is not None:
            return
        self.interval.pause()
        entry: dict[str, Any] = {
            "epoch": self.epoch + 1, "step": self.step,
            "train_loss": self.epoch_window.loss, "train_err": self.epoch_window.err,
        }  # fmt: skip
        last = self.step >= self.total
        if last or (self.epoch + 1) % self.loop.eval_every == 0:
            entry.update(self._evaluate_splits())
        entry["time"] = self._seconds()
        self.epochs.append(entry)
        if self.log is not None:
            self.log.log("epoch", entry)
        self._save_best(entry)
        for callback in self.callbacks:
            callback.on_epoch_end(self._state(), entry)
        self.epoch += 1
        self.batch = 0
        self.epoch_window = Window()
        if self.writes:
            self._save_latest()

    def _measure(self, split: str, loader: Loader) -> dict[str, float]:
        m = evaluate(self.models.raw, loader, device=self.device, precision=self.loop.precision,
                     channels_last=self.nhwc)  # fmt: skip
        return {f"{split}_loss": m["loss"], f"{split}_err": m["err"]}

    def _evaluate_splits(self) -> dict[str, float]:
        out = self._measure("test", self.loaders.test)
        if self.loaders.val is not None:
            out.update(self._measure("val", self.loaders.val))
        return out

    def _final(self) -> dict[str, float]:
        last = self.epochs[-1] if self.epochs else {}
        final = {k: v for k, v in last.items() if k.startswith(("test_", "val_"))}
        if self.loop.eval_train:
            loader = eval_loader(self.data, "train", self.config.data, self.device)
            final.update(self._measure("train", loader))
        return final

    def _seconds(self) -> float:
        return self.elapsed + time.perf_counter() - self.started

    def _state(self) -> StepState:
        return StepState(
            step=self.step, epoch=self.epoch, lr=self.optimizer.param_groups[0]["lr"],
            loss=self.last_loss, model=self.models.raw, optimizer=self.optimizer,
            total_steps=self.total,
        )  # fmt: skip

    # -- checkpoints ----------------------------------------------------------------------------

    def _save_best(self, entry: dict[str, Any]) -> None:
        # "Best" is chosen on the validation split only: picking on test would tune on test.
        err = entry.get("val_err")
        if err is None or not err < self.best_val_err:
            return
        self.best_val_err = err
        if self.writes:
            assert self.run_dir is not None
            state = {"model": model_name(self.models.raw), "config": self.config.to_dict(),
                     "step": self.step, "epoch": entry}  # fmt: skip
            save_checkpoint(self.run_dir.best, model_tensors(self.models.raw), state)

    def _save_latest(self) -> None:
        assert self.run_dir is not None
        tensors = model_tensors(self.models.raw)
        optim_tensors, optim_state = optimizer_tensors(self.optimizer)
        rng_tensors, rng_state = capture_rng()
        state = {
            "model": model_name(self.models.raw), "config": self.config.to_dict(),
            "step": self.step, "epoch": self.epoch, "batch": self.batch,
            "optimizer": optim_state, "rng": rng_state,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "warmup": self.warmup.state() if self.warmup is not None else None,
            "interval": self.interval.state(), "epoch_window": self.epoch_window.state(),
            "history": self.history, "epochs": self.epochs, "best_val_err": self.best_val_err,
            "elapsed": self._seconds(),
            "metrics_lines": self.log.lines if self.log is not None else 0,
        }  # fmt: skip
        save_checkpoint(self.run_dir.latest, {**tensors, **optim_tensors, **rng_tensors}, state)

    def _load(self) -> tuple[int, int]:
        """Restore everything from ``latest``; returns (step, metrics lines) for the log."""
        assert self.run_dir is not None
        path = self.run_dir.latest
        tensors, state = read_checkpoint(path)
        _check_same_config(state.get("config", {}), self.config.to_dict(), path)
        load_model_state(self.models.raw, tensors, path)
        load_optimizer_state(self.optimizer, tensors, state["optimizer"], path)
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        if self.warmup is not None and state["warmup"]:
            self.warmup.load(state["warmup"])
        self.step, self.epoch, self.batch = state["step"], state["epoch"], state["batch"]
        self.interval = Window.from_state(state["interval"])
        self.epoch_window = Window.from_state(state["epoch_window"])
        self.history, self.epochs = state["history"], state["epochs"]
        self.best_val_err = state["best_val_err"]
        self.elapsed = state["elapsed"]
        if self.ctx.is_main:
            restore_rng(tensors, state["rng"])
        else:
            # Only rank 0's random state is saved; the others restart from a fresh, still
            # deterministic stream (it only drives dropout / drop-path, if the model has any).
            seed_everything(self.loop.seed + self.ctx.rank + self.ctx.world_size * self.step)
        return self.step, state["metrics_lines"]


def _check_same_config(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    diffs = [
        f"{section}.{key}: checkpoint {value!r}, now {current[section].get(key)!r}"
        for section, fields in saved.items() if isinstance(fields, dict)
        for key, value in fields.items() if current.get(section, {}).get(key) != value
    ]  # fmt: skip
    if saved.get("recipe") != current.get("recipe"):
        diffs.insert(
            0, f"recipe: checkpoint {saved.get('recipe')!r}, now {current.get('recipe')!r}"
        )
    if diffs:
        raise CheckpointError(
            f"{path} was written with another config; resume with the same settings "
            f"({'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''})"
        )
