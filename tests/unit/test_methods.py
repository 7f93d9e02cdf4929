"""Adaptation methods: every registered method x both tasks, trained for a few steps on the tiny
BERT. Round trip (train -> save -> load in a fresh process -> identical predictions), merge
parity against the unmerged adapter, peft loading the artifact, the head travelling with the
adapter, AdaLoRA's budget really shrinking, no adapter on the classifier, shared base weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification
from typer.testing import CliRunner

from cotune.artifact import Predictor, load_artifact
from cotune.config.load import validate
from cotune.config.schema import MethodConfig, RunConfig
from cotune.config.tracking import TrackingConfig
from cotune.errors import ArtifactError, ConfigError
from cotune.methods import METHODS, get_method
from cotune.recipes.finetune import finetune
from cotune.training.loop import TrainState

from .helpers import tiny_config

SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "freeze": {"bottom_layers": 1},
    "lora": {"r": 4},
    "adalora": {"init_r": 4, "target_r": 2},
    "prefix": {"num_virtual_tokens": 4},
    "adapter": {"size": 8},
}
# every registered method, plus the linear (foldable) bottleneck adapter
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, SMALL_OPTIONS.get(name, {})) for name in METHODS},
    "adapter-linear": ("adapter", {"size": 8, "activation": "identity"}),
}
NOT_MERGEABLE = {"prefix", "adapter"}
PEFT_METHODS = ["lora", "adalora", "ia3", "prefix"]
TASKS = ["ner", "cls"]
PROBE = ["john visited paris today .", "a great film , i loves it and mary hates apple"]
AUTO = {"ner": AutoModelForTokenClassification, "cls": AutoModelForSequenceClassification}


class Capture:
    """Keeps the trained model as the loop leaves it (after the best weights are reloaded)."""

    model: Any = None

    def on_step_end(self, state: TrainState, model: torch.nn.Module) -> None:
        pass

    def on_train_end(self, state: TrainState, model: torch.nn.Module) -> None:
        self.model = model


@dataclass
class Trained:
    folder: Path
    predictor: Predictor  # the in-memory trained model, wrapped as a predictor
    logits: torch.Tensor


def method_config(
    backbone: Path, out: Path, task: str, method: str, options: dict[str, Any], **train: Any
) -> RunConfig:
    cfg = tiny_config(backbone, out, task, **{"max_steps": 6, "lr": 1e-2, **train})
    return cfg.model_copy(
        update={
            "method": MethodConfig(name=method, **options),
            "name": f"{task}-{method}-{len(options)}",
            "tracking": TrackingConfig(backend="none"),
        }
    )


def probe_logits(model: Any, tokenizer: Any) -> torch.Tensor:
    batch = dict(tokenizer(PROBE, padding=True, return_tensors="pt"))
    model.eval()
    with torch.no_grad():
        out: torch.Tensor = model(**batch).logits
    return out


def train(cfg: RunConfig, *callbacks: Any) -> Trained:
    capture = Capture()
    folder = finetune(cfg, progress=False, callbacks=[capture, *callbacks])
    predictor = replace(load_artifact(folder), model=capture.model)
    return Trained(folder, predictor, probe_logits(capture.model, predictor.tokenizer))


def summary(predictions: list[Any]) -> list[Any]:
    """What a prediction decides: entity spans, or the chosen labels."""
    out: list[Any] = []
    for p in predictions:
        if isinstance(p, list):
            out.append([[e.label, e.start, e.end] for e in p])
        else:
            out.append(list(p.labels))
    return out


@pytest.fixture(scope="module")
def trained(
    tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Trained]:
    out = tmp_path_factory.mktemp("methods")
    runs = {}
    with pytest.MonkeyPatch.context() as mp:  # plots are tested elsewhere and cost seconds here
        mp.setattr("cotune.artifact.writer.training_curve", lambda *a, **k: None)
        mp.setattr("cotune.artifact.writer.confusion_matrix", lambda *a, **k: None)
        for case, (method, options) in CASES.items():
            for task in TASKS:
                runs[case, task] = train(method_config(tiny_backbone, out, task, method, options))
    return runs


FRESH_LOAD = """
import json, sys, torch
torch.set_num_threads(1)
from cotune.artifact import load_artifact
jobs, probe, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
result = {}
for key, folder in jobs.items():
    p = load_artifact(folder)
    batch = dict(p.tokenizer(probe, padding=True, return_tensors="pt"))
    with torch.no_grad():
        logits = p.model(**batch).logits
    preds = p.predict_text(probe)
    result[key] = {
        "logits": logits.tolist(),
        "predictions": [
            [[e.label, e.start, e.end] for e in x] if isinstance(x, list) else list(x.labels)
            for x in preds
        ],
    }
open(out, "w").write(json.dumps(result))
"""


@pytest.fixture(scope="module")
def fresh(trained: dict[tuple[str, str], Trained], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every artifact loaded in one new Python process (nothing shared with the trainer)."""
    jobs = {f"{case}/{task}": str(t.folder) for (case, task), t in trained.items()}
    out = tmp_path_factory.mktemp("fresh") / "result.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD, json.dumps(jobs), json.dumps(PROBE), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_registered_method_is_covered() -> None:
    assert {method for method, _ in CASES.values()} == set(METHODS)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_in_a_fresh_process(
    trained: dict[tuple[str, str], Trained], fresh: Any, case: str, task: str
) -> None:
    t = trained[case, task]
    loaded = fresh[f"{case}/{task}"]
    torch.testing.assert_close(torch.tensor(loaded["logits"]), t.logits, atol=1e-6, rtol=0)
    assert loaded["predictions"] == summary(t.predictor.predict_text(PROBE))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("case", list(CASES))
def test_merge_parity_or_a_reasoned_refusal(
    trained: dict[tuple[str, str], Trained],
    tiny_backbone: Path,
    tmp_path: Path,
    case: str,
    task: str,
) -> None:
    from cotune.uses.merge import merge_artifact

    t = trained[case, task]
    out = tmp_path / "merged"
    if case in NOT_MERGEABLE:
        with pytest.raises(ArtifactError, match="cannot be merged") as err:
            merge_artifact(t.folder, out)
        assert "fix" in str(err.value).lower() and not out.exists()
        return
    result = merge_artifact(t.folder, out)
    assert result.max_abs_diff < 1e-4
    # the merged folder is a plain Hugging Face model: transformers alone loads it
    plain = AUTO[task].from_pretrained(out)
    assert not any("lora" in n or "adapter" in n or "ia3" in n for n, _ in plain.named_parameters())
    merged_logits = probe_logits(plain, t.predictor.tokenizer)
    assert (merged_logits - t.logits).abs().max().item() < 1e-4
    # ... and the method really changed the encoder (the parity is not vacuous)
    base = AUTO[task].from_pretrained(tiny_backbone, num_labels=plain.config.num_labels)
    base_state = base.state_dict()
    changed = [
        k
        for k, v in plain.state_dict().items()
        if ".encoder." in k and k in base_state and not torch.equal(v, base_state[k])
    ]
    assert changed
    again = load_artifact(out)
    assert again.meta.method["merged"] and again.meta.method["name"] == CASES[case][0]
    assert summary(again.predict_text(PROBE)) == summary(t.predictor.predict_text(PROBE))


@pytest.mark.filterwarnings("ignore:The following rank_pattern keys")  # peft's own, for AdaLoRA
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("method", PEFT_METHODS)
def test_peft_loads_the_artifact_with_its_head(
    trained: dict[tuple[str, str], Trained], tiny_backbone: Path, method: str, task: str
) -> None:
    from peft import PeftModel

    t = trained[method, task]
    with safe_open(str(t.folder / "adapter_model.safetensors"), framework="pt") as f:
        assert any(".classifier." in k for k in f.keys())  # noqa: SIM118
    labels = t.predictor.meta.labels
    base = AUTO[task].from_pretrained(tiny_backbone, num_labels=len(labels))
    model = PeftModel.from_pretrained(base, t.folder)
    torch.testing.assert_close(probe_logits(model, t.predictor.tokenizer), t.logits)


@pytest.mark.parametrize("task", TASKS)
def test_bottleneck_adapter_saves_head_and_layer_norms(
    trained: dict[tuple[str, str], Trained], task: str
) -> None:
    folder = trained["adapter", task].folder
    with safe_open(str(folder / "bottleneck_adapter.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert "classifier.weight" in keys and any("LayerNorm" in k for k in keys)
    assert any(".adapter.up." in k for k in keys) and not any("word_embeddings" in k for k in keys)
    config = json.loads((folder / "bottleneck_adapter.json").read_text())
    assert config["options"]["size"] == 8 and config["options"]["activation"] == "gelu"


@pytest.mark.parametrize("task", TASKS)
def test_trainable_share_size_and_speed_are_reported(
    trained: dict[tuple[str, str], Trained], task: str
) -> None:
    metrics = {
        case: json.loads((trained[case, task].folder / "metrics.json").read_text())["training"]
        for case in CASES
    }
    full = metrics["full"]
    assert full["trainable_pct"] == 100.0
    for case, m in metrics.items():
        assert m["params_trainable"] > 0 and m["seconds_per_epoch"] > 0 and m["words_per_s"] > 0
        assert m["artifact_bytes"] > m["weights_bytes"] > 0
        if case not in ("full", "freeze"):
            assert m["trainable_pct"] < 35, case
            assert m["weights_bytes"] < full["weights_bytes"] / 2, case


def test_adalora_rank_budget_shrinks_while_training(tiny_backbone: Path, tmp_path: Path) -> None:
    from cotune.methods.adalora import rank_budget

    class Budgets:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_step_end(self, state: TrainState, model: torch.nn.Module) -> None:
            self.seen.append(rank_budget(model))

    budgets = Budgets()
    options = {"init_r": 4, "target_r": 1, "tinit": 0.1, "tfinal": 0.2}
    cfg = method_config(tiny_backbone, tmp_path, "ner", "adalora", options, max_steps=20)
    t = train(cfg, budgets)
    n_layers = 2 * 6  # 2 encoder layers x (query, key, value, attention out, FFN in, FFN out)
    seen = budgets.seen
    assert seen[0] == 4 * n_layers  # every rank in use after the first step
    assert seen[-1] <= 1 * n_layers  # the final budget: target_r per layer
    budgeting = seen[2:16]  # tinit = 2 steps, the final 4 steps hold the ranks fixed
    assert all(b >= a for a, b in zip(budgeting[1:], budgeting, strict=False))  # never grows
    assert len(set(budgeting)) > 3  # shrinks gradually (cubic schedule), not in one jump
    # the artifact keeps only the ranks left: smaller matrices, and it loads back identically
    config = json.loads((t.folder / "adapter_config.json").read_text())
    assert sum(sum(mask) for mask in config["rank_pattern"].values()) <= n_layers
    with safe_open(str(t.folder / "adapter_model.safetensors"), framework="pt") as f:
        ranks = [f.get_slice(k).get_shape()[0] for k in f.keys() if "lora_E" in k]  # noqa: SIM118
    assert sum(ranks) <= n_layers
    loaded = load_artifact(t.folder)
    torch.testing.assert_close(probe_logits(loaded.model, loaded.tokenizer), t.logits)


def test_adalora_without_its_schedule_warns(tiny_backbone: Path, tmp_path: Path) -> None:
    model = _task_model(tiny_backbone, "ner")
    method = get_method("adalora")
    wrapped = method.apply(model, method.parse({}))
    with pytest.warns(UserWarning, match="without its rank schedule"):
        method.save(wrapped, tmp_path)  # type: ignore[misc]


def _task_model(backbone: Path, task: str) -> Any:
    from transformers import AutoTokenizer

    from cotune.config.schema import ModelConfig
    from cotune.tasks import build_task

    name = "token-classification" if task == "ner" else "sequence-classification"
    labels = ["O", "B-person", "I-person"] if task == "ner" else ["neg", "pos"]
    t = build_task(name, labels, AutoTokenizer.from_pretrained(backbone), ModelConfig())
    return t.build_model(backbone, ModelConfig())


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("method", ["lora", "adalora", "ia3"])
def test_adapters_never_land_on_the_classifier(tiny_backbone: Path, method: str, task: str) -> None:
    from peft.tuners.tuners_utils import BaseTunerLayer

    m = get_method(method)
    for targets in (None, ["dense"]):  # `dense` also names the pooler's layer: must not match
        options = {} if targets is None else {"target_modules": targets}
        model = m.apply(_task_model(tiny_backbone, task), m.parse(options))
        adapted = [n for n, mod in model.named_modules() if isinstance(mod, BaseTunerLayer)]
        assert adapted and all(".encoder.layer." in n for n in adapted)
        head = [n for n, p in model.named_parameters() if "classifier" in n and p.requires_grad]
        assert head  # the head trains whole
    with pytest.raises(ConfigError, match="no Linear layer inside the encoder"):
        m.apply(_task_model(tiny_backbone, task), m.parse({"target_modules": ["classifier"]}))


def test_lora_default_targets_are_query_key_value(tiny_backbone: Path) -> None:
    m = get_method("lora")
    model = m.apply(_task_model(tiny_backbone, "ner"), m.parse({}))
    config = model.peft_config["default"]
    assert set(config.modules_to_save) >= {"classifier"}
    names = {n.rsplit(".", 1)[-1] for n, mod in model.named_modules() if hasattr(mod, "lora_A")}
    assert names == {"query", "key", "value"}


def test_linear_adapter_folds_exactly() -> None:
    from cotune.methods.adapter import AdaptedLinear, BottleneckAdapter

    torch.manual_seed(0)
    layer = AdaptedLinear(torch.nn.Linear(16, 12), BottleneckAdapter(12, 4, "identity"))
    torch.nn.init.normal_(layer.adapter.up.weight)
    torch.nn.init.normal_(layer.adapter.up.bias)
    x = torch.randn(5, 7, 16)
    torch.testing.assert_close(layer.folded()(x), layer(x), atol=1e-5, rtol=1e-5)
    nonlinear = AdaptedLinear(torch.nn.Linear(16, 12), BottleneckAdapter(12, 4, "gelu"))
    with pytest.raises(ValueError, match="only a linear adapter"):
        nonlinear.folded()


def test_head_missing_from_the_backbone_travels_too(tiny_backbone: Path, tmp_path: Path) -> None:
    """A backbone without a pooler (like minilm-l3, rebuilt from ONNX): the classifier's pooler
    is freshly initialised, so it must be trained and saved with the adapter."""
    from transformers import BertModel

    from cotune.methods.targets import fresh_modules

    no_pooler = tmp_path / "no-pooler"
    shutil.copytree(tiny_backbone, no_pooler)
    BertModel.from_pretrained(tiny_backbone, add_pooling_layer=False).save_pretrained(no_pooler)
    assert fresh_modules(_task_model(no_pooler, "cls")) == ["bert.pooler.dense", "classifier"]
    assert fresh_modules(_task_model(tiny_backbone, "cls")) == ["classifier"]
    t = train(method_config(no_pooler, tmp_path / "runs", "cls", "lora", {"r": 2}))
    torch.manual_seed(123)  # a different init for the pooler, if it were not restored
    loaded = load_artifact(t.folder)
    torch.testing.assert_close(probe_logits(loaded.model, loaded.tokenizer), t.logits)


def test_several_adapters_share_one_base(trained: dict[tuple[str, str], Trained]) -> None:
    from cotune.artifact.multi import base_name, load_adapters

    folders = {
        "ner-lora": trained["lora", "ner"].folder,
        "cls-ia3": trained["ia3", "cls"].folder,
        "ner-adapter": trained["adapter", "ner"].folder,
    }
    models = load_adapters(folders)
    assert models.shared_parameters > 0
    separate = sum(
        sum(p.numel() * p.element_size() for p in load_artifact(f).model.parameters())
        for f in folders.values()
    )
    assert models.parameter_bytes() < separate * 0.5

    def weight(name: str, key: str) -> torch.Tensor:
        params = dict(models[name].model.named_parameters())
        return next(p for n, p in params.items() if base_name(n) == key)

    for key in (
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
    ):
        assert weight("ner-lora", key) is weight("cls-ia3", key) is weight("ner-adapter", key)
    for name, (case, task) in zip(
        folders, [("lora", "ner"), ("ia3", "cls"), ("adapter", "ner")], strict=True
    ):
        t = trained[case, task]
        torch.testing.assert_close(
            probe_logits(models[name].model, t.predictor.tokenizer), t.logits
        )
        assert summary(models.predict_text(name, PROBE)) == summary(t.predictor.predict_text(PROBE))


def test_adapter_over_other_base_weights_is_refused(
    trained: dict[tuple[str, str], Trained], tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(trained["lora", "ner"].folder, folder)
    meta_path = folder / "cotune.json"
    meta = json.loads(meta_path.read_text())
    meta["backbone"]["fingerprint"] = "0" * 16
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="weights hash"):
        load_artifact(folder)
    meta["backbone"]["name"] = "no-such-backbone"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="base model 'no-such-backbone' cannot be found"):
        load_artifact(folder)


def test_method_options_are_checked_when_the_config_loads(tiny_backbone: Path) -> None:
    raw = {
        "task": "token-classification",
        "data": {"source": "wnut16"},
        "model": {"backbone": str(tiny_backbone)},
    }
    bad = [
        ({"name": "lora", "r": 0}, "method.r"),
        ({"name": "lora", "rank": 8}, "method.rank"),
        ({"name": "adalora", "init_r": 4, "target_r": 8}, "exceeds init_r"),
        ({"name": "adapter", "activation": "swish"}, "method.activation"),
        ({"name": "prefix", "num_virtual_tokens": 0}, "method.num_virtual_tokens"),
    ]
    for method, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate({**raw, "method": method})
    assert validate({**raw, "method": {"name": "lora", "r": 16, "alpha": 32}}).method.name == "lora"


def test_cli_merge(trained: dict[tuple[str, str], Trained], tmp_path: Path) -> None:
    from cotune.cli.main import app

    runner = CliRunner()
    out = tmp_path / "merged"
    res = runner.invoke(app, ["merge", str(trained["lora", "cls"].folder), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "model.safetensors").exists() and "merged lora model written" in res.output
    res = runner.invoke(app, ["merge", str(trained["lora", "cls"].folder), "-o", str(out)])
    assert res.exit_code == 2 and "already exists" in res.output
    other = tmp_path / "prefix-merged"
    res = runner.invoke(app, ["merge", str(trained["prefix", "ner"].folder), "-o", str(other)])
    assert res.exit_code == 2 and "prefix tuning cannot be merged" in res.output
    assert not other.exists()


@pytest.mark.parametrize("case", ["lora", "adapter", "prefix"])
def test_cli_predicts_and_evaluates_an_adapter_artifact(
    trained: dict[tuple[str, str], Trained], case: str
) -> None:
    from cotune.cli.main import app

    from .helpers import NER

    runner = CliRunner()
    folder = trained[case, "ner"].folder
    res = runner.invoke(app, ["predict", str(folder), PROBE[0]])
    assert res.exit_code == 0, res.output
    expected = summary(trained[case, "ner"].predictor.predict_text(PROBE[:1]))[0]
    entities = json.loads(res.stdout)["entities"]
    assert [[e["label"], e["start"], e["end"]] for e in entities] == expected
    res = runner.invoke(app, ["evaluate", str(folder), "--data", str(NER)])
    assert res.exit_code == 0, res.output
    assert "f1" in json.loads(res.stdout)
