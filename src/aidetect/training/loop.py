"""One training loop for every PyTorch detector.

Binary cross-entropy on one logit, AdamW or SGD with warm-up and cosine
decay, class balancing by loss weights or a sampler, validation every epoch on
the clean validation images *and* on a format-normalised copy of them (both
classes re-encoded identically), early stopping on their mean ROC-AUC, best
and last checkpoints, resume, and determinism from a seed (each training view
is drawn from a generator seeded by (seed, epoch, index), so results do not
depend on the number of loader workers).

Checkpoints are plain state dicts read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from aidetect import preprocess
from aidetect.datasets import Dataset, class_weights, source_sample_weights
from aidetect.io import load_image
from aidetect.preprocess import Normalisation
from aidetect.trainconfig import AugmentConfig, TrainConfig
from aidetect.training.augment import augment

Batch = tuple[torch.Tensor, torch.Tensor]  # (images NCHW, labels N x 1)

__all__ = ["AugmentConfig", "EpochRecord", "TrainConfig", "TrainResult", "train"]


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_auc: float
    val_auc_normalised: float
    seconds: float

    @property
    def score(self) -> float:
        return (self.val_auc + self.val_auc_normalised) / 2


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    history: list[EpochRecord]
    best_path: Path
    seconds: float


class _TrainViews(torch.utils.data.Dataset[Batch]):
    """Random augmented views of the training images."""

    def __init__(self, dataset: Dataset, config: TrainConfig) -> None:
        self.samples = dataset.samples
        self.config = config
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        rng = np.random.default_rng((self.config.seed, self.epoch, index))
        view = augment(load_image(sample.path), self.config.augment, rng)
        batch = preprocess.to_nchw_float([view], self.config.normalisation)[0]
        return torch.from_numpy(batch), torch.tensor([float(sample.label)])


class _EvalViews(torch.utils.data.Dataset[Batch]):
    """Deterministic centre crops of validation images, optionally format-normalised first."""

    def __init__(self, dataset: Dataset, size: int, norm: Normalisation, normalise_format: bool) -> None:
        self.samples = dataset.samples
        self.size = size
        self.norm = norm
        self.normalise_format = normalise_format

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        image = load_image(sample.path)
        if self.normalise_format:
            image = preprocess.normalise_format(image)
        image = preprocess.center_crop(preprocess.pad_to(image, self.size), self.size)
        return torch.from_numpy(preprocess.to_nchw_float([image], self.norm)[0]), torch.tensor([float(sample.label)])


def train(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: str | Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``model`` in place; keep ``best.pt`` (by validation AUC) and ``last.pt`` in ``out_dir``.

    ``on_epoch`` is called after each epoch (hyper-parameter search uses it to
    prune; it may raise to stop). Returns the history and the best checkpoint.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    views = _TrainViews(train_data, config)
    loader = _train_loader(views, train_data, config)
    steps_per_epoch = len(loader)
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    optimizer = _make_optimizer(model, config)
    scheduler = _make_scheduler(optimizer, config, steps_per_epoch)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=_pos_weight(train_data, config))
    eval_size = config.eval_size or config.augment.crop_size
    val_loaders = [
        DataLoader(_EvalViews(val_data, eval_size, config.normalisation, normalised), batch_size=config.batch_size,
                   num_workers=config.num_workers)
        for normalised in (False, True)
    ]
    history: list[EpochRecord] = []
    start_epoch, best_score, best_epoch = 0, -math.inf, -1
    if resume is not None:
        start_epoch, best_score, best_epoch, history = _load_checkpoint(Path(resume), model, optimizer, scheduler)
        previous_best = Path(resume).parent / "best.pt"
        if previous_best.exists() and not (out / "best.pt").exists():
            shutil.copyfile(previous_best, out / "best.pt")
        log(f"resumed from {resume} at epoch {start_epoch}")
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    started = time.perf_counter()
    stale = 0
    for epoch in range(start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        views.epoch = epoch
        train_loss = _train_epoch(model, loader, optimizer, scheduler, loss_fn, steps_per_epoch, epoch, config, log)
        val_loss, val_auc = _evaluate(model, val_loaders[0], loss_fn)
        _, val_auc_norm = _evaluate(model, val_loaders[1], loss_fn)
        record = EpochRecord(epoch, train_loss, val_loss, val_auc, val_auc_norm, time.perf_counter() - epoch_start)
        history.append(record)
        log(
            f"epoch {epoch + 1}/{config.epochs}: train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
            f"val AUC {val_auc:.4f}  val AUC (normalised) {val_auc_norm:.4f}  [{record.seconds:.0f}s]"
        )
        if best_epoch < 0 or record.score > best_score:
            best_score, best_epoch, stale = record.score, epoch, 0
            torch.save(model.state_dict(), out / "best.pt")
        else:
            stale += 1
        _save_checkpoint(out / "last.pt", model, optimizer, scheduler, epoch + 1, best_score, best_epoch, history)
        (out / "history.json").write_text(json.dumps([asdict(r) for r in history], indent=2))
        if on_epoch is not None:
            on_epoch(record)
        if stale >= config.patience:
            log(f"early stop: no improvement for {config.patience} epochs")
            break
    model.load_state_dict(torch.load(out / "best.pt", map_location="cpu", weights_only=True))
    return TrainResult(best_epoch, best_score, history, out / "best.pt", time.perf_counter() - started)


def _train_loader(views: _TrainViews, data: Dataset, config: TrainConfig) -> DataLoader[Batch]:
    generator = torch.Generator().manual_seed(config.seed)
    if config.balance in ("sampler", "source"):
        if config.balance == "source":
            sample_weights = torch.from_numpy(source_sample_weights(data, power=config.source_power))
        else:
            weights = class_weights(data.labels)
            sample_weights = torch.tensor([weights[int(label)] for label in data.labels], dtype=torch.double)
        # torch takes a tensor of weights (it calls torch.as_tensor); its stub only says Sequence[float]
        sampler = WeightedRandomSampler(sample_weights, num_samples=len(data), generator=generator)  # type: ignore[arg-type]
        return DataLoader(views, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers,
                          drop_last=True, persistent_workers=config.num_workers > 0)
    return DataLoader(views, batch_size=config.batch_size, shuffle=True, generator=generator,
                      num_workers=config.num_workers, drop_last=True, persistent_workers=config.num_workers > 0)


def _pos_weight(data: Dataset, config: TrainConfig) -> torch.Tensor | None:
    if config.balance != "weights":
        return None
    counts = np.bincount(data.labels, minlength=2)
    if counts.min() == 0:
        return None
    return torch.tensor([counts[0] / counts[1]], dtype=torch.float32)


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay)
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {config.optimizer!r}")


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = max(1, config.epochs * steps_per_epoch)
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _train_epoch(
    model: nn.Module, loader: DataLoader[Batch], optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR, loss_fn: nn.Module, steps: int, epoch: int, config: TrainConfig,
    log: Callable[[str], None],
) -> float:
    model.train()
    total, count = 0.0, 0
    bar = _progress(steps, f"epoch {epoch + 1}/{config.epochs}")
    for step, (inputs, targets) in enumerate(loader):
        if step >= steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total / count:.4f}")
    if bar is not None:
        bar.close()
    return total / max(count, 1)


@torch.no_grad()
def _evaluate(model: nn.Module, loader: DataLoader[Batch], loss_fn: nn.Module) -> tuple[float, float]:
    from aidetect.metrics import roc_auc

    model.eval()
    logits, labels = [], []
    for inputs, targets in loader:
        logits.append(model(inputs))
        labels.append(targets)
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    loss = float(loss_fn(all_logits, all_labels))
    return loss, float(roc_auc(all_labels.numpy().ravel(), all_logits.numpy().ravel()))


def _progress(total: int, description: str) -> Any:  # a tqdm bar (untyped), or None without tqdm
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, leave=False, mininterval=5.0)


def _save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
    epoch: int, best_score: float, best_epoch: int, history: list[EpochRecord],
) -> None:
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "best_score": best_score,
            "best_epoch": best_epoch,
            "history": [asdict(r) for r in history],
        },
        path,
    )


def _load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
) -> tuple[int, float, int, list[EpochRecord]]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history = [EpochRecord(**record) for record in state["history"]]
    return int(state["epoch"]), float(state["best_score"]), int(state["best_epoch"]), history
