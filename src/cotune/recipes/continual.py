"""Continual fine-tuning: start from a trained artifact (warm start) and keep what it knew.

`plan_continual(cfg, splits, backbone)` is the one hook the fine-tune recipe calls. Without a
`continual:` section it changes nothing (the tokenizer, labels and model of a fresh run). With
one it:

- checks the new data against the parent: same task; labels it does not know are refused unless
  `grow_head`, which adds head rows for them (the parent's rows and ids stay as they were);
- mixes earlier examples into training (`replay`): from a named source, the parent's stored
  reservoir, or the parent's own recorded training data;
- builds the model from the parent's weights (an adapter parent is folded into its base first,
  so an adapter method trains a new adapter for this period);
- adds the L2-SP or EWC penalty as a loop callback (cotune.training.anchors);
- after the artifact is written, records the parent in its card and stores what the next period
  needs (a replay reservoir, the Fisher information).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotune.config.continual import ContinualConfig
from cotune.config.schema import DataConfig, RunConfig
from cotune.data.examples import Example, Splits, TextExample, TokenExample
from cotune.errors import ConfigError, DataError
from cotune.training.anchors import (
    AnchorPenalty,
    diagonal_fisher,
    load_fisher,
    save_fisher,
    snapshot,
)

REPLAY_FILE = "replay.jsonl"


@dataclass
class ContinualPlan:
    """What a run takes from its parent. `parent is None`: a plain run."""

    cfg: RunConfig
    backbone: Any
    labels: list[str]
    parent: Any = None  # cotune.artifact.Predictor
    replayed: int = 0
    added_labels: list[str] = field(default_factory=list)
    earlier: list[Example] = field(default_factory=list)  # for a Fisher the parent lacks
    new_examples: list[Example] = field(default_factory=list)  # this period's own train rows
    penalty: AnchorPenalty | None = None
    fisher_source: str = ""

    @property
    def settings(self) -> ContinualConfig | None:
        return self.cfg.continual

    @property
    def tokenizer_source(self) -> Any:
        return self.parent.folder if self.parent is not None else self.backbone

    def build_model(self, task: Any) -> Any:
        """The parent's weights (head grown for new labels), else the backbone with a new head."""
        if self.parent is None:
            return task.build_model(self.backbone, self.cfg.model)
        model = self.parent.model
        if hasattr(model, "merge_and_unload"):  # an adapter parent: fold it into its base
            model = model.merge_and_unload()
        if self.added_labels:
            grow_head(model, list(self.parent.meta.labels), self.labels)
        model.train()
        s = self.settings
        assert s is not None
        if s.penalty != "none":
            importance = None
            if s.penalty == "ewc":
                importance = self._fisher(model, task)
            self.penalty = AnchorPenalty(snapshot(model), s.strength, importance)
        return model

    def callbacks(self, model: Any) -> list[Any]:
        """Loop callbacks (the penalty), bound to the model as the method left it."""
        return [] if self.penalty is None else [self.penalty.bind(model)]

    def method_for_saving(self, method: Any) -> Any:
        """A warm-started adapter is written merged: its base is the parent, not the catalog
        backbone an adapter artifact is loaded over."""
        if self.parent is None or method.save is None:
            return method
        return dataclasses.replace(method, save=None)

    def model_for_saving(self, model: Any, method: Any, options: Any) -> Any:
        if self.parent is None or method.save is None:
            return model
        return method.merged(model, options)

    def _fisher(self, model: Any, task: Any) -> Any:
        stored = load_fisher(self.parent.folder)
        if stored is not None:
            self.fisher_source = f"stored in {self.parent.folder}"
            return stored
        s = self.settings
        assert s is not None
        sample = _sample(self.earlier, s.fisher_examples, seed=self.cfg.train.seed)
        if not sample:
            raise ConfigError(
                "continual.penalty ewc needs the Fisher information of the parent on its earlier "
                "data: the parent stores none and no earlier data was found",
                where="continual.penalty",
                fix="set continual.replay.source to the earlier data, or use penalty l2sp",
            )
        self.fisher_source = f"computed on {len(sample)} earlier examples"
        multi = bool(self.cfg.model.multi_label)
        return diagonal_fisher(model, task.encode(sample), task.collate, multi_label=multi)

    def record(self) -> dict[str, Any]:
        """What the card and cotune.json say about this run's parent and guards."""
        if self.parent is None or self.settings is None:
            return {}
        s = self.settings
        metrics_file = Path(self.parent.folder) / "metrics.json"
        parent_test = {}
        if metrics_file.is_file():
            m = json.loads(metrics_file.read_text(encoding="utf-8"))
            key = m.get("training", {}).get("metric")
            if isinstance(m.get("test", {}).get(key), int | float):
                parent_test = {key: m["test"][key]}
        return {
            "parent": {
                "path": str(Path(self.parent.folder).resolve()),
                "created": self.parent.meta.created,
                "data": (self.parent.meta.data.get("provenance") or {}).get("name"),
                "labels": list(self.parent.meta.labels),
                "method": self.parent.meta.method.get("name"),
                "test": parent_test,
            },
            "continual": {
                "penalty": s.penalty,
                "strength": s.strength if s.penalty != "none" else None,
                "fisher": self.fisher_source or None,
                "anchored_tensors": len(self.penalty.matched) if self.penalty else 0,
                "replayed_examples": self.replayed,
                "added_labels": self.added_labels,
            },
        }

    def finish(self, out: Path, model: Any, task: Any, train: Sequence[Example]) -> None:
        """After the artifact is written: lineage into cotune.json and the card, and the
        replay reservoir / Fisher for the next period."""
        s = self.settings
        if s is None:
            return
        from cotune.artifact.lineage import rewrite_card, update_meta

        extra = self.record()
        if s.keep_replay:
            extra["replay"] = write_reservoir(out, self, s.keep_replay)
        if s.store_fisher:
            own = _sample(list(train), s.fisher_examples, seed=self.cfg.train.seed)
            fisher = diagonal_fisher(
                model, task.encode(own), task.collate, multi_label=bool(self.cfg.model.multi_label)
            )
            save_fisher(fisher, out, {"examples": str(len(own))})
            extra["fisher"] = {"file": "fisher.safetensors", "examples": len(own)}
        update_meta(out, extra, merged=self.parent is not None and _is_adapter(self.cfg))
        rewrite_card(out)


def _is_adapter(cfg: RunConfig) -> bool:
    from cotune.methods import get_method

    return get_method(cfg.method.name).save is not None


def plan_continual(cfg: RunConfig, splits: Splits, backbone: Any) -> ContinualPlan:
    """Check the new data against the parent, mix in replay, and say how to build the model.
    `splits.train` gets the replayed examples appended (in place)."""
    s = cfg.continual
    plan = ContinualPlan(cfg, backbone, list(splits.labels), new_examples=list(splits.train))
    if s is None:
        return plan
    parent = None
    if s.parent is not None:
        parent = _load_parent(s.parent, cfg)
        plan.parent = parent
        plan.labels, plan.added_labels = _merge_labels(parent.meta, splits, s.grow_head)
    needs_earlier = s.replay is not None or (
        s.penalty == "ewc" and parent is not None and load_fisher(Path(parent.folder)) is None
    )
    earlier = _earlier_examples(s, parent, cfg) if needs_earlier else []
    plan.earlier = earlier
    if s.replay is not None:
        if not earlier:
            raise ConfigError(
                "continual.replay found no earlier examples: the parent stores no reservoir "
                "and records no data cotune can rebuild",
                where="continual.replay.source",
                fix="name the earlier data (a catalog source or a labelled file)",
            )
        picked = _sample(earlier, s.replay.size, seed=s.replay.seed)
        _check_kind(picked, splits, "continual.replay.source")
        if parent is None:  # replay alone (no warm start): its labels join the inventory
            from cotune.data.load import label_inventory

            plan.labels = label_inventory([*splits.train, *picked])
        else:
            _check_known(picked, plan.labels, "continual.replay.source")
        splits.train.extend(picked)
        plan.replayed = len(picked)
    return plan


def _load_parent(folder: Path, cfg: RunConfig) -> Any:
    from cotune.artifact.load import load_artifact

    parent = load_artifact(folder)
    where = "continual.parent (--from)"
    if parent.meta.task != cfg.task:
        raise ConfigError(
            f"the parent {folder} is a {parent.meta.task} model, this run is {cfg.task}",
            where=where,
            fix="continue from a model of the same task",
        )
    if bool(parent.meta.model_config.get("multi_label")) != cfg.model.multi_label:
        raise ConfigError(
            "the parent and this run disagree on model.multi_label",
            where=where,
            fix=f"set model.multi_label {bool(parent.meta.model_config.get('multi_label'))}",
        )
    if cfg.model.extend_vocab is not None:
        raise ConfigError(
            "a warm start keeps the parent's tokenizer; model.extend_vocab cannot apply",
            where="model.extend_vocab",
            fix="extend the vocabulary when training the parent, or drop it here",
        )
    if cfg.privacy is not None and (cfg.continual and cfg.continual.penalty != "none"):
        raise ConfigError(
            "a continual penalty adds to gradients that DP-SGD clips per example",
            where="continual.penalty",
            fix="use replay under privacy.dp, or train without DP",
        )
    if _is_adapter(cfg) and cfg.continual is not None and not cfg.continual.new_adapter:
        raise ConfigError(
            f"method {cfg.method.name} over a warm start trains a new adapter on the parent; "
            "continual.new_adapter false has no other meaning",
            where="continual.new_adapter",
            fix="set it true, or use method full",
        )
    return parent


def _types(labels: Sequence[str]) -> list[str]:
    return sorted({lab[2:] if lab[:2] in ("B-", "I-") else lab for lab in labels})


def _merge_labels(meta: Any, splits: Splits, grow: bool) -> tuple[list[str], list[str]]:
    """The parent's labels in their order, then the new data's unknown ones (sorted)."""
    known = list(meta.labels)
    added = [lab for lab in splits.labels if lab not in known]
    if added and not grow:
        what = "entity types" if splits.kind == "tokens" else "labels"
        raise DataError(
            f"the new data has {what} the parent model does not know: {_types(added)} "
            f"(it knows {_types(known)})",
            where="data",
            fix="fix the labels, or let the head grow: --continual.grow_head true",
        )
    return known + added, added


def _check_kind(examples: list[Example], splits: Splits, where: str) -> None:
    want = TokenExample if splits.kind == "tokens" else TextExample
    if examples and not isinstance(examples[0], want):
        raise DataError(
            "the earlier data is of another task than the new data",
            where=where,
            fix="replay data of the same task",
        )


def _check_known(examples: list[Example], labels: list[str], where: str) -> None:
    from cotune.data.load import label_inventory

    unknown = sorted(set(label_inventory(examples)) - set(labels))
    if unknown:
        raise DataError(
            f"replayed examples carry labels the model does not know: {_types(unknown)}",
            where=where,
            fix="replay the parent's own data, or grow the head (--continual.grow_head true)",
        )


def _earlier_examples(s: ContinualConfig, parent: Any, cfg: RunConfig) -> list[Example]:
    """Earlier training examples: the named source, else the parent's reservoir, else the
    parent's recorded training split (rebuilt from its config)."""
    from cotune.data import load_splits

    if s.replay is not None and s.replay.source is not None:
        src = s.replay.source
        own = (parent.meta.config.get("data") or {}) if parent is not None else {}
        if own.get("source") == src:
            data = DataConfig(**own)
        elif Path(src).is_file():
            data = DataConfig(train=Path(src), split={"dev": 0.0, "test": 0.0})
        else:
            data = DataConfig(source=src)
        return list(load_splits(data)[0].train)
    if parent is None:
        return []
    stored = read_reservoir(Path(parent.folder))
    if stored:
        return stored
    own = parent.meta.config.get("data") or {}
    try:
        return list(load_splits(DataConfig(**own))[0].train)
    except (DataError, ConfigError, TypeError, ValueError):
        return []


def _sample(examples: list[Example], k: int, *, seed: int) -> list[Example]:
    if len(examples) <= k:
        return list(examples)
    return random.Random(seed).sample(examples, k)


def grow_head(model: Any, old: list[str], new: list[str]) -> None:
    """Give the classifier rows for the labels in `new` past `old` (same order first), new rows
    initialised like a fresh head; the old rows, and so the old predictions' logits, unchanged."""
    import torch
    from torch import nn

    head = model.classifier
    assert isinstance(head, nn.Linear) and head.out_features == len(old)
    grown = nn.Linear(head.in_features, len(new), device=head.weight.device)
    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        grown.weight.normal_(0.0, std)
        grown.bias.zero_()
        grown.weight[: len(old)] = head.weight
        grown.bias[: len(old)] = head.bias
    model.classifier = grown
    model.num_labels = len(new)
    model.config.num_labels = len(new)
    model.config.id2label = dict(enumerate(new))
    model.config.label2id = {lab: i for i, lab in enumerate(new)}


# ---------------------------------------------------------------- replay reservoir


def _to_row(ex: Example) -> dict[str, Any]:
    if isinstance(ex, TokenExample):
        return {"tokens": ex.tokens, "tags": ex.tags}
    return {"text": ex.text, "labels": ex.labels}


def _from_row(row: dict[str, Any], where: str) -> Example:
    if "tokens" in row:
        return TokenExample(list(row["tokens"]), list(row["tags"]), where)
    return TextExample(str(row["text"]), list(row["labels"]), where)


def read_reservoir(folder: Path) -> list[Example]:
    path = folder / REPLAY_FILE
    if not path.is_file():
        return []
    rows = path.read_text(encoding="utf-8").splitlines()
    return [_from_row(json.loads(r), f"{path}:{i}") for i, r in enumerate(rows, 1) if r.strip()]


def write_reservoir(out: Path, plan: ContinualPlan, size: int) -> dict[str, Any]:
    """Reservoir sampling (Vitter's algorithm R) continued over this period's own examples:
    every example of every period so far has the same chance to be in it."""
    from cotune.files import atomic_write_text

    reservoir: list[Example] = []
    seen = 0
    if plan.parent is not None:
        reservoir = read_reservoir(Path(plan.parent.folder))
        seen = int((plan.parent.meta.extra.get("replay") or {}).get("seen", len(reservoir)))
    reservoir = reservoir[:size]
    rng = random.Random(plan.cfg.train.seed + seen)
    for ex in plan.new_examples:
        seen += 1
        if len(reservoir) < size:
            reservoir.append(ex)
        else:
            j = rng.randrange(seen)
            if j < size:
                reservoir[j] = ex
    text = "".join(json.dumps(_to_row(ex), ensure_ascii=False) + "\n" for ex in reservoir)
    atomic_write_text(out / REPLAY_FILE, text)
    return {"file": REPLAY_FILE, "size": len(reservoir), "seen": seen}
