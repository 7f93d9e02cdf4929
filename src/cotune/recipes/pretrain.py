"""Pre-train recipe: text -> (vocabulary extension) -> masked-LM model -> the loop -> backbone.

The output folder is a backbone (config.json, model.safetensors with the MLM head and the
pooler, tokenizer files) that `AutoModel.from_pretrained` and `model.backbone:` accept, plus a
card and the lineage of every step that made it.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotune.artifact.folder import output_folder
from cotune.artifact.plots import training_curve
from cotune.artifact.writer import new_stage
from cotune.config.pretrain import PretrainConfig
from cotune.data.texts import Texts, load_texts
from cotune.files import atomic_write_text, publish_files
from cotune.models.card import write_backbone_card
from cotune.models.catalog import fingerprint, resolve_backbone
from cotune.models.extend import extend_for_run
from cotune.models.vocab import texts_unk_rate, write_lineage
from cotune.tracking.base import Tracker
from cotune.tracking.pretrain import PretrainRun
from cotune.training import distributed
from cotune.training.budget import steps_for_budget
from cotune.training.loop import Callback, FitResult, fit
from cotune.training.mlm import MlmCollator, MlmEvaluator, encode_texts, mlm_loss
from cotune.training.runtime import seed_everything
from cotune.training.summary import training_summary

DEFAULT_METRIC = "neg_mlm_loss"


def pretrain(
    cfg: PretrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    tracker: Tracker | None = None,
) -> Path:
    """Continue masked-LM pre-training as `cfg` says; returns the backbone folder."""
    out = cfg.output_dir / cfg.run_name()
    world, device = distributed.setup(cfg.train.device)
    setup = distributed.MainSetup(world)
    if not world.is_main:  # under torchrun: train this rank's share; rank 0 writes
        setup.wait()
        _train_and_write(cfg, out, resume, False, callbacks, world, device)
        return out
    try:
        with output_folder(out, cfg, resume=resume, overwrite=overwrite):
            run = PretrainRun(cfg, tracker)
            run.start(out, resumed=resume)
            setup.done()
            try:
                _train_and_write(
                    cfg, out, resume, progress, [run.callback, *callbacks], world, device
                )
            except BaseException as e:
                run.fail(e)
                raise
    except BaseException as e:
        setup.done(e)
        raise
    run.finish(out)
    return out


def split_dev(texts: list[str], n_dev: int, seed: int) -> tuple[list[str], list[str]]:
    """(train, dev): a seeded hold-out of `n_dev` texts to measure the masked LM on."""
    from cotune.errors import DataError

    if len(texts) <= n_dev:
        raise DataError(
            f"{len(texts)} texts cannot spare {n_dev} for the held-out evaluation",
            where="text.dev_texts",
            fix="lower text.dev_texts or give more text",
        )
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    dev = set(order[:n_dev])
    return [t for i, t in enumerate(texts) if i not in dev], [texts[i] for i in sorted(dev)]


def load_model(backbone: Path | str) -> Any:
    """The backbone with its pre-training head (new, where the folder has none): AutoModel-
    ForPreTraining keeps BERT's pooler, which the fine-tuned classifier starts from."""
    from transformers import AutoModelForPreTraining
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialised cls.*" is expected for a bare encoder
    try:
        return AutoModelForPreTraining.from_pretrained(backbone)
    finally:
        hf_logging.set_verbosity(previous)


def _train_and_write(
    cfg: PretrainConfig,
    out: Path,
    resume: bool,
    progress: bool | None,
    callbacks: Sequence[Callback],
    world: distributed.World,
    device: Any,
) -> None:
    from transformers import AutoTokenizer

    seed_everything(cfg.train.seed)
    text = load_texts(
        cfg.text.sources, use=cfg.text.use, split=cfg.text.split, limit=cfg.text.limit
    )
    train_texts, dev_texts = split_dev(text.texts, cfg.text.dev_texts, cfg.text.seed)

    backbone = resolve_backbone(cfg.model.backbone)
    if cfg.model.extend_vocab is not None:
        backbone = extend_for_run(
            backbone,
            cfg.model.extend_vocab,
            base_name=cfg.model.backbone,
            default_texts=train_texts,
            default_sources=text.sources,
        )
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = load_model(backbone)
    model.to(device)

    features = encode_texts(train_texts, tokenizer, cfg.model.max_length)
    words = [max(f.word_index) + 1 for f in features]
    collate = MlmCollator(tokenizer, cfg.mlm)
    evaluate = MlmEvaluator(
        encode_texts(dev_texts, tokenizer, cfg.model.max_length),
        collate,
        cfg.train.eval_batch_size,
        seed=cfg.text.seed,
    )
    before = evaluate(model) if world.is_main else {}
    train_cfg, budget = cfg.train, None
    if cfg.budget_minutes:
        # rank 0 probes the step time (as one process) and every rank trains that many steps
        budget = distributed.broadcast(
            steps_for_budget(out, cfg.budget_minutes, model, collate, features, cfg.train, mlm_loss)
            if world.is_main
            else None,
            world,
        )
        assert budget is not None
        train_cfg = cfg.train.model_copy(update={"max_steps": budget["steps"]})
    metric = cfg.train.metric or DEFAULT_METRIC
    result = fit(
        model,
        collate,
        features,
        words,
        evaluate,
        train_cfg,
        metric=metric,
        checkpoint_dir=out / "checkpoints",
        resume=resume,
        loss_fn=mlm_loss,
        callbacks=callbacks,
        progress=progress,
        world=world,
    )
    if not world.is_main:
        return
    after = evaluate(model)
    training = training_summary(result, metric, _parameters(model), len(features), len(train_texts))
    step = _lineage_step(cfg, backbone, text, result, training, before, after, budget)
    step["device"] = str(next(model.parameters()).device)  # what `auto` resolved to
    step["unk_rate"] = texts_unk_rate(train_texts, tokenizer)
    step["train_texts"], step["dev_texts"] = len(train_texts), len(dev_texts)
    _write_backbone(out, cfg, model, tokenizer, backbone, step, result, training)


def _parameters(model: Any) -> dict[str, float]:
    from cotune.methods.catalog import count_parameters

    return count_parameters(model)


def _lineage_step(
    cfg: PretrainConfig,
    backbone: Path | str,
    text: Texts,
    result: FitResult,
    training: dict[str, Any],
    before: dict[str, float],
    after: dict[str, float],
    budget: dict[str, Any] | None,
) -> dict[str, Any]:
    import datetime as dt

    return {
        "kind": "mlm-pretraining",
        "base": cfg.model.backbone + (" (vocabulary extended)" if cfg.model.extend_vocab else ""),
        "base_path": str(backbone),
        "base_fingerprint": fingerprint(backbone) if Path(str(backbone)).exists() else None,
        "sources": text.sources,
        "mlm": cfg.mlm.model_dump(mode="json"),
        "training": training,
        "budget": budget,
        "before": before,
        "after": after,
        "config": cfg.model_dump(mode="json"),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "best_step": result.state.best_step,
    }


def _write_backbone(
    out: Path,
    cfg: PretrainConfig,
    model: Any,
    tokenizer: Any,
    backbone: Path | str,
    step: dict[str, Any],
    result: FitResult,
    training: dict[str, Any],
) -> None:
    """Stage everything in a hidden folder, then move it into `out` file by file."""
    stage = new_stage(out)
    model.save_pretrained(stage, safe_serialization=True)
    tokenizer.save_pretrained(stage)
    if (Path(str(backbone)) / "vocab.txt").is_file() and not (stage / "vocab.txt").exists():
        # transformers 5 saves tokenizer.json only; older tools read BERT's vocab.txt
        shutil.copy(Path(str(backbone)) / "vocab.txt", stage / "vocab.txt")
    write_lineage(stage, cfg.model.backbone, backbone, step)
    metrics = {"before": step["before"], "after": step["after"], "training": training}
    atomic_write_text(stage / "metrics.json", json.dumps(metrics, indent=2))
    history = result.state.history
    atomic_write_text(stage / "history.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    training_curve(history, training["metric"], stage / "training_curve.png")
    write_backbone_card(stage, cfg.run_name(), shown=out)
    publish_files(stage, out)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
