"""Fine-tune recipe: data -> task -> model -> method -> loop -> artifact."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from cotune.artifact.folder import output_folder
from cotune.artifact.writer import write_artifact
from cotune.augment.splits import load_augmented_splits
from cotune.config.schema import RunConfig
from cotune.data.stats import unk_rate
from cotune.errors import ConfigError
from cotune.methods import get_method
from cotune.methods.catalog import MethodContext, count_parameters
from cotune.models.catalog import resolve_backbone
from cotune.models.extend import extend_for_split
from cotune.privacy.dp.setup import private_fit
from cotune.recipes.continual import plan_continual
from cotune.tasks import build_task
from cotune.tracking.base import Tracker
from cotune.tracking.run import start_tracked_run
from cotune.training import distributed
from cotune.training.loop import Callback, fit, total_steps
from cotune.training.runtime import seed_everything
from cotune.training.summary import feature_words, training_summary


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
    Under torchrun every rank trains; rank 0 alone writes the folder and tracks the run.
    """
    world, device = distributed.setup(cfg.train.device)
    distributed.refuse_dp(world, cfg.privacy is not None and cfg.privacy.dp is not None)
    setup = distributed.MainSetup(world)
    if not world.is_main:
        setup.wait()
        out = cfg.output_dir / cfg.run_name()
        _train_and_write(
            cfg,
            out,
            resume=resume,
            progress=False,
            callbacks=callbacks,
            evaluate_test=False,
            world=world,
            device=device,
        )
        return out
    run = start_tracked_run(cfg, tracker, tags={"cotune.resumed": "true"} if resume else None)
    try:
        with output_folder(
            cfg.output_dir / cfg.run_name(), cfg, resume=resume, overwrite=overwrite
        ) as out:
            setup.done()
            _train_and_write(
                cfg,
                out,
                resume=resume,
                progress=progress,
                callbacks=[run.callback, *callbacks],
                evaluate_test=evaluate_test,
                world=world,
                device=device,
            )
    except BaseException as e:
        setup.done(e)
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
    world: distributed.World,
    device: Any,
) -> None:
    seed_everything(cfg.train.seed)

    splits, provenance = load_augmented_splits(cfg.data)
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
        backbone = extend_for_split(backbone, cfg, method.save is None, splits.train, provenance)
    plan = plan_continual(cfg, splits, backbone)  # warm start (--from), replay: continual.py
    tokenizer = AutoTokenizer.from_pretrained(plan.tokenizer_source)
    task = build_task(cfg.task, plan.labels, tokenizer, cfg.model)
    model: Any = plan.build_model(task)
    options = method.parse(cfg.method.options())
    model = method.apply(model, options)  # may wrap the model
    model.to(device)
    params = count_parameters(model)

    features = task.encode(splits.train)
    words = feature_words(features, splits.train)
    metric = cfg.train.metric or task.default_metric()
    bs = cfg.train.eval_batch_size
    dp = private_fit(cfg, model, features)  # None unless privacy.dp: DP-SGD plugs into `fit`
    result = fit(
        model,
        task.collate,
        features,
        words,
        lambda m: task.evaluate(m, splits.dev, bs),
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
            *plan.callbacks(model),  # L2-SP / EWC
            *callbacks,
        ],
        progress=progress,
        world=world,
        **({} if dp is None else dp.options()),
    )
    if not world.is_main:  # rank 0 evaluates on test and writes the artifact
        return
    dev = task.evaluate(model, splits.dev, bs) if splits.dev else {}
    test = task.evaluate(model, splits.test, bs) if splits.test and evaluate_test else {}
    st = result.state
    training = training_summary(result, metric, params, len(features), len(splits.train))
    if dp is not None:
        training["privacy"] = dp.engine.summary()
    write_artifact(
        out,
        cfg=cfg,
        model=plan.model_for_saving(model, method, options),
        tokenizer=tokenizer,
        task=task,
        method=plan.method_for_saving(method),
        backbone=backbone,
        provenance=provenance.to_dict(),
        split=splits.record,
        metrics={"dev": dev, "test": test, "training": training},
        history=st.history,
        unk=unk_rate(splits.train, tokenizer),
    )
    plan.finish(out, model, task, splits.train)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
