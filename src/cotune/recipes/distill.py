"""Distil recipe: teacher artifact -> student (layer subset or catalog backbone) -> optional
structured pruning -> the one loop with a distillation loss -> artifact.

The student artifact is an ordinary `full` artifact: `load_artifact`, `evaluate`, `predict`,
`export` and `serve` use it like any other. What distillation adds is recorded under
`metrics.json["distill"]` (teacher, temperature, alpha, teacher's dev metric, retention).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from cotune.artifact import load_artifact
from cotune.artifact.folder import output_folder
from cotune.artifact.writer import write_artifact
from cotune.augment.splits import load_augmented_splits
from cotune.data.stats import unk_rate
from cotune.distill.config import DistillConfig
from cotune.distill.losses import distill_loss
from cotune.distill.prune import prune_model
from cotune.distill.students import (
    check_same_tokenizer,
    encoder_layers,
    layer_subset_student,
    uniform_mapping,
)
from cotune.errors import ConfigError
from cotune.methods import get_method
from cotune.methods.catalog import count_parameters
from cotune.models.catalog import resolve_backbone
from cotune.tasks import build_task
from cotune.training import distributed
from cotune.training.loop import Callback, fit
from cotune.training.runtime import seed_everything
from cotune.training.summary import feature_words, training_summary


def distill(
    cfg: DistillConfig,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Train the student `cfg` describes from its teacher and write its artifact folder.

    Student and teacher go to `train.device`. Under torchrun every rank trains its share;
    rank 0 alone writes the folder."""
    world, device = distributed.setup(cfg.train.device)
    setup = distributed.MainSetup(world)
    out = cfg.output_dir / cfg.run_name()
    if not world.is_main:
        setup.wait()
        _distill_and_write(cfg, out, False, callbacks, world, device)
        return out
    try:
        with output_folder(out, cfg, resume=False, overwrite=overwrite):
            setup.done()
            _distill_and_write(cfg, out, progress, callbacks, world, device)
    except BaseException as e:
        setup.done(e)
        raise
    return out


def _distill_and_write(
    cfg: DistillConfig,
    out: Path,
    progress: bool | None,
    callbacks: Sequence[Callback],
    world: distributed.World,
    device: Any,
) -> None:
    seed_everything(cfg.train.seed)
    opts = cfg.distill
    teacher = load_artifact(opts.teacher)
    teacher.model.to(device)  # the teacher's forward runs on every training batch
    if teacher.meta.task != cfg.task:
        raise ConfigError(
            f"the teacher {opts.teacher} does {teacher.meta.task}, the config asks for {cfg.task}",
            where="task",
            fix=f"set task: {teacher.meta.task}",
        )
    if cfg.model.multi_label != bool(teacher.meta.model_config.get("multi_label")):
        raise ConfigError(
            "model.multi_label differs from the teacher's",
            where="model.multi_label",
            fix="use the teacher's setting",
        )
    splits, provenance = load_augmented_splits(cfg.data)
    unknown = sorted(set(splits.labels) - set(teacher.meta.labels))
    if unknown:
        raise ConfigError(
            f"the data has labels the teacher never learnt: {unknown}",
            where="data",
            fix="distil on the teacher's data (or a relabelled copy with its labels)",
        )

    backbone: Path | str
    if opts.layers is not None:
        tokenizer = teacher.tokenizer
        student: Any = layer_subset_student(teacher.model, opts.layers)
        backbone, mapping = opts.teacher, list(opts.layers)
    else:
        backbone = resolve_backbone(cfg.model.backbone)
        tokenizer = AutoTokenizer.from_pretrained(backbone)
        check_same_tokenizer(teacher.tokenizer, tokenizer, student_name=cfg.model.backbone)
        probe = build_task(cfg.task, teacher.meta.labels, tokenizer, cfg.model)
        student = probe.build_model(backbone, cfg.model)
        mapping = uniform_mapping(len(encoder_layers(student)), len(encoder_layers(teacher.model)))
    if opts.hidden_weight > 0 and student.config.hidden_size != teacher.model.config.hidden_size:
        raise ConfigError(
            f"hidden-state alignment needs equal widths; the student has "
            f"{student.config.hidden_size}, the teacher {teacher.model.config.hidden_size}",
            where="distill.hidden_weight",
            fix="set it to 0",
        )
    student.to(device)
    task = build_task(cfg.task, teacher.meta.labels, tokenizer, cfg.model)
    bs = cfg.train.eval_batch_size
    pruned: dict[str, Any] = {}
    if opts.prune is not None and (opts.prune.heads > 0 or opts.prune.ffn > 0):
        pruned = prune_model(student, task, splits.dev or splits.train, opts.prune)

    features = task.encode(splits.train)
    words = feature_words(features, splits.train)
    metric = cfg.train.metric or task.default_metric()
    loss_fn = distill_loss(
        teacher.model,
        temperature=opts.temperature,
        alpha=opts.alpha,
        hidden_weight=opts.hidden_weight,
        mapping=mapping,
    )
    result = fit(
        student,
        task.collate,
        features,
        words,
        lambda m: task.evaluate(m, splits.dev, bs),
        cfg.train,
        metric=metric,
        checkpoint_dir=out / "checkpoints",
        loss_fn=loss_fn,
        callbacks=callbacks,
        progress=progress,
        world=world,
    )
    if not world.is_main:  # rank 0 evaluates on test and writes the artifact
        return
    dev = task.evaluate(student, splits.dev, bs) if splits.dev else {}
    test = task.evaluate(student, splits.test, bs) if splits.test else {}
    teacher_dev = teacher.evaluate(splits.dev, bs) if splits.dev else {}
    st = result.state
    params = count_parameters(student)
    training = training_summary(result, metric, params, len(features), len(splits.train))
    t_metric, s_metric = teacher_dev.get(metric), dev.get(metric)
    record = {
        "teacher": str(opts.teacher),
        "student": f"layers {opts.layers}" if opts.layers is not None else cfg.model.backbone,
        "temperature": opts.temperature,
        "alpha": opts.alpha,
        "hidden_weight": opts.hidden_weight,
        "teacher_params": count_parameters(teacher.model)["total"],
        "teacher_dev": t_metric,
        "retention_pct": round(100 * s_metric / t_metric, 2) if t_metric and s_metric else None,
        "pruned": pruned,
    }
    write_artifact(
        out,
        cfg=cfg,
        model=student,
        tokenizer=tokenizer,
        task=task,
        method=get_method("full"),
        backbone=backbone,
        provenance=provenance.to_dict(),
        split=splits.record,
        metrics={"dev": dev, "test": test, "training": training, "distill": record},
        history=st.history,
        unk=unk_rate(splits.train, tokenizer),
    )
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
