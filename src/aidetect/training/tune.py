"""Hyper-parameter search with Optuna and its Hyperband pruner (as the founding reports tuned).

Each trial trains a detector's network with the shared loop and reports the
validation score (mean of clean and format-normalised ROC-AUC) after every
epoch; Hyperband stops the weak trials early. The best configuration is
written as JSON that ``aidetect.load("cnn", config=PATH)`` and
``aidetect train cnn --config PATH`` accept.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from aidetect.datasets import Dataset
from aidetect.training.loop import EpochRecord, TrainConfig, train


def suggest_cnn(trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CNN search space: filters, depth, pooling, dense units, dropout, residual stem, learning rate, optimizer."""
    base = trial.suggest_categorical("base_filters", [8, 16, 24, 32])
    blocks = trial.suggest_int("blocks", 3, 5)
    network = {
        "filters": [base * 2**i for i in range(blocks)],
        "convs_per_block": trial.suggest_int("convs_per_block", 1, 2),
        "pooling": trial.suggest_categorical("pooling", ["max", "avg"]),
        "dense_units": trial.suggest_categorical("dense_units", [32, 64, 128]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "residual_stem": trial.suggest_categorical("residual_stem", [True, False]),
    }
    training = {
        "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        "optimizer": trial.suggest_categorical("optimizer", ["adamw", "sgd"]),
    }
    return network, training


def tune(
    name: str,
    train_data: Dataset,
    val_data: Dataset,
    *,
    trials: int = 20,
    out: str | Path = "best.json",
    seed: int = 0,
    epochs: int = 6,
    max_steps_per_epoch: int | None = None,
    base_config: TrainConfig | None = None,
) -> dict[str, Any]:
    """Search ``trials`` configurations of detector ``name`` and write the best to ``out``."""
    import optuna

    if name not in ("cnn", "small-cnn"):
        raise ValueError(f"tuning is implemented for 'cnn'; got {name!r}")
    from aidetect.detectors.architectures import CNNConfig, SmallCNN

    config = base_config or TrainConfig(epochs=epochs, seed=seed, num_workers=0,
                                        max_steps_per_epoch=max_steps_per_epoch)
    config = replace(config, augment=replace(config.augment, crop_size=128) if base_config is None else config.augment)

    def objective(trial: optuna.Trial) -> float:
        import torch

        network_params, training_params = suggest_cnn(trial)
        torch.manual_seed(seed)
        network = SmallCNN(CNNConfig.from_dict(network_params))
        trial_config = replace(config, lr=training_params["lr"], optimizer=training_params["optimizer"])

        def report(record: EpochRecord) -> None:
            trial.report(record.score, record.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        with tempfile.TemporaryDirectory(prefix="aidetect-tune-") as work_dir:
            result = train(network, train_data, val_data, trial_config, work_dir, on_epoch=report,
                           log=lambda message: None)
        trial.set_user_attr("network", network_params)
        trial.set_user_attr("training", training_params)
        return result.best_score

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs, reduction_factor=3),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=trials)
    best = study.best_trial
    summary = {
        "detector": "cnn",
        "network": best.user_attrs["network"],
        "training": best.user_attrs["training"],
        "best_value": best.value,
        "objective": "mean of validation ROC-AUC on clean and format-normalised images",
        "trials": [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params} for t in study.trials
        ],
    }
    Path(out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
