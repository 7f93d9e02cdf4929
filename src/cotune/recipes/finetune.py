"""Fine-tune recipe: data -> task -> model -> method -> loop -> artifact."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel
from transformers import AutoTokenizer

from cotune.config.schema import RunConfig
from cotune.data import load_splits
from cotune.data.stats import unk_rate
from cotune.errors import ConfigError
from cotune.methods import get_method
from cotune.methods.registry import MethodContext, count_parameters
from cotune.models.catalog import resolve_backbone
from cotune.privacy.dp.setup import private_fit
from cotune.recipes.common import feature_words, training_summary
from cotune.recipes.writer import write_artifact
from cotune.tasks import build_task
from cotune.tracking.base import Tracker
from cotune.tracking.run import start_tracked_run
from cotune.training.loop import Callback, fit, total_steps


def default_metric(cfg: RunConfig) -> str:
    if cfg.train.metric:
        return cfg.train.metric
    if cfg.task == "token-classification":
        return "f1"
    return "micro_f1" if cfg.model.multi_label else "accuracy"


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device is cuda but no CUDA GPU is visible",
            where="train.device",
            fix="use auto or cpu",
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_output(out: Path, cfg: BaseModel, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a finished artifact or someone's unfinished run, unless asked (any
    config schema: run, distill, pre-train)."""
    saved = out / "run_config.yaml"
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif resume:
            if saved.exists():
                try:
                    old = yaml.safe_load(saved.read_text(encoding="utf-8"))
                except yaml.YAMLError:
                    old = None
                if not isinstance(old, dict):
                    raise ConfigError(
                        "--resume: the run's saved config is not a YAML mapping",
                        where=str(saved),
                        fix="restore the file, or start the run again (--overwrite)",
                    )
                new = cfg.model_dump(mode="json")
                # where the run is tracked does not change what it computes
                old.pop("tracking", None)
                new.pop("tracking", None)
                diff = sorted(_diff(old, new))
                if diff:
                    raise ConfigError(
                        f"--resume with a different config: {', '.join(diff)} changed",
                        where=str(saved),
                        fix="resume with the same config, or start a new run (--name / "
                        "--overwrite)",
                    )
        else:
            raise ConfigError(
                f"{out} already holds a run",
                fix="pass --resume to continue it, --overwrite to replace it, or set --name",
            )
    out.mkdir(parents=True, exist_ok=True)
    if not saved.exists():
        saved.write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )


@contextmanager
def output_folder(out: Path, cfg: BaseModel, *, resume: bool, overwrite: bool) -> Iterator[Path]:
    """`prepare_output`, under `discard_setup_only`: a run that then fails before writing more
    than its run_config.yaml leaves no folder behind."""
    with discard_setup_only(out, ("run_config.yaml",), overwrite=overwrite):
        prepare_output(out, cfg, resume=resume, overwrite=overwrite)
        yield out


@contextmanager
def discard_setup_only(out: Path, setup: Sequence[str], *, overwrite: bool) -> Iterator[None]:
    """A run that fails while `out` holds only its set-up files (a missing data file, an unknown
    backbone, an option refused at set-up) takes the folder away again: it holds nothing to
    resume, and would refuse the corrected config's rerun ('already holds a run'). A folder that
    held something before is left as it is."""
    held = out.exists() and any(out.iterdir()) and not overwrite
    try:
        yield
    except BaseException:
        if not held and out.is_dir() and {p.name for p in out.iterdir()} <= set(setup):
            shutil.rmtree(out)
        raise


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in set(a) | set(b):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def finetune(
    cfg: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    tracker: Tracker | None = None,
    evaluate_test: bool = True,
) -> Path:
    """Train a task model as `cfg` says and write its artifact folder; returns the folder.

    The run is tracked on `tracker` (default: the one `cfg.tracking` names). A search passes
    `evaluate_test=False`: trials are compared on dev, and only the winner sees test, once.
    """
    run = start_tracked_run(cfg, tracker, tags={"cotune.resumed": "true"} if resume else None)
    try:
        with output_folder(
            cfg.output_dir / cfg.run_name(), cfg, resume=resume, overwrite=overwrite
        ) as out:
            _train_and_write(
                cfg,
                out,
                resume=resume,
                progress=progress,
                callbacks=[run.callback, *callbacks],
                evaluate_test=evaluate_test,
            )
    except BaseException as e:
        run.fail(e)
        raise
    run.finish(out)
    return out


def _train_and_write(
    cfg: RunConfig,
    out: Path,
    *,
    resume: bool,
    progress: bool | None,
    callbacks: Sequence[Callback],
    evaluate_test: bool,
) -> None:
    seed_everything(cfg.train.seed)

    splits, provenance = load_splits(cfg.data)
    want = "tokens" if cfg.task == "token-classification" else "text"
    if splits.kind != want:
        raise ConfigError(
            f"task {cfg.task!r} needs {want} data, but {provenance.name!r} holds {splits.kind}",
            where="task",
            fix="pick the task that matches the data",
        )
    if splits.multi_label and not cfg.model.multi_label:
        raise ConfigError(
            "the data has several labels per text", where="model.multi_label", fix="set it true"
        )

    backbone = resolve_backbone(cfg.model.backbone)
    method = get_method(cfg.method.name)
    if cfg.model.extend_vocab is not None:  # new rows must train and ship with the model
        from cotune.pretrain.extend import extend_for_split

        backbone = extend_for_split(backbone, cfg, method.save is None, splits.train, provenance)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    task = build_task(cfg.task, splits.labels, tokenizer, cfg.model)
    model: Any = task.build_model(backbone, cfg.model)
    options = method.parse(cfg.method.options())
    model = method.apply(model, options)  # may wrap the model
    model.to(resolve_device(cfg.train.device))
    params = count_parameters(model)

    features = task.encode(splits.train)
    words = feature_words(features, splits.train)
    metric = default_metric(cfg)
    bs = cfg.train.eval_batch_size
    dp = private_fit(cfg, model, features)  # None unless privacy.dp: DP-SGD plugs into `fit`
    result = fit(
        model,
        task.collate,
        features,
        words,
        lambda m: task.metrics(task.predict(m, splits.dev, bs), splits.dev),
        cfg.train if dp is None else dp.train,
        metric=metric,
        checkpoint_dir=out / "checkpoints",
        resume=resume,
        # the method's own hooks (AdaLoRA's rank schedule) run first, so the caller's see the
        # model as the method leaves it; DP's before both, so they see the spent epsilon
        callbacks=[
            *([] if dp is None else [dp.engine]),
            *method.training_callbacks(
                model, options, MethodContext(total_steps(len(features), cfg.train)[1])
            ),
            *callbacks,
        ],
        progress=progress,
        **({} if dp is None else dp.options()),
    )
    dev = task.metrics(task.predict(model, splits.dev, bs), splits.dev) if splits.dev else {}
    test = (
        task.metrics(task.predict(model, splits.test, bs), splits.test)
        if splits.test and evaluate_test
        else {}
    )
    st = result.state
    training = training_summary(result, metric, params, len(features), len(splits.train))
    if dp is not None:
        training["privacy"] = dp.engine.summary()
    write_artifact(
        out,
        cfg=cfg,
        model=model,
        tokenizer=tokenizer,
        task=task,
        method=method,
        backbone=backbone,
        provenance=provenance.to_dict(),
        split=splits.record,
        metrics={"dev": dev, "test": test, "training": training},
        history=st.history,
        unk=unk_rate(splits.train, tokenizer),
    )
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
