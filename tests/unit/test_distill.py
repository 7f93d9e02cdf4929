"""Distillation: soft loss by hand, layer-subset students, tokenizer refusal, tiny distil runs,
FFN pruning that loads back with plain transformers, and the shipped distill configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from transformers import AutoModelForTokenClassification, AutoTokenizer

from cotune.artifact import load_artifact
from cotune.config.schema import DataConfig
from cotune.data.load import load_splits
from cotune.distill.config import DistillConfig, PruneConfig
from cotune.distill.load import load_distill_config
from cotune.distill.losses import distill_loss, soft_loss
from cotune.distill.prune import prune_model
from cotune.distill.students import check_same_tokenizer, layer_subset_student
from cotune.errors import ConfigError
from cotune.recipes.distill import distill
from cotune.recipes.finetune import finetune
from tests.conftest import build_tiny_backbone
from tests.unit.helpers import NER, tiny_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "distill").glob("*.yaml"))


@pytest.fixture(scope="module")
def teachers(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("teachers")
    return {
        task: finetune(tiny_config(tiny_backbone, out, task, epochs=3), progress=False)
        for task in ("ner", "cls")
    }


def distill_config(teacher: Path, out: Path, task: str, **distill_opts: object) -> DistillConfig:
    base = tiny_config(Path(str(teacher)), out, task, max_steps=3).model_dump()
    base["model"]["backbone"] = str(teacher)
    return DistillConfig.model_validate({**base, "distill": {"teacher": teacher, **distill_opts}})


def test_soft_loss_equals_hand_computation() -> None:
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    labels = torch.tensor([[1, -100, 2], [-100, 0, -100]])
    temp = 3.0
    expected = 0.0
    for b, i in [(0, 0), (0, 2), (1, 1)]:  # labelled positions only
        p = F.softmax(t[b, i] / temp, -1)
        q = F.log_softmax(s[b, i] / temp, -1)
        expected += float((p * (p.log() - q)).sum()) * temp**2
    assert soft_loss(s, t, labels, temp).item() == pytest.approx(expected, rel=1e-5)
    # sequence level: every example is a unit
    s2, t2 = s[:, 0], t[:, 0]
    p, q = F.softmax(t2 / temp, -1), F.log_softmax(s2 / temp, -1)
    hand = float((p * (p.log() - q)).sum()) * temp**2
    assert soft_loss(s2, t2, torch.tensor([1, 0]), temp).item() == pytest.approx(hand, rel=1e-5)


def test_identical_student_has_zero_soft_loss(teachers: dict[str, Path]) -> None:
    teacher = load_artifact(teachers["ner"]).model
    loss = distill_loss(teacher, temperature=2.0, alpha=1.0)
    ids = torch.tensor([[2, 30, 31, 3]])
    labels = torch.tensor([[-100, 1, 0, -100]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    assert loss(teacher, batch).item() == pytest.approx(0.0, abs=1e-5)


def test_layer_subset_copies_the_right_layers(teachers: dict[str, Path]) -> None:
    teacher = load_artifact(teachers["ner"]).model
    student = layer_subset_student(teacher, [1])
    assert student.config.num_hidden_layers == 1
    assert len(student.bert.encoder.layer) == 1
    t_sd, s_sd = teacher.state_dict(), student.state_dict()
    for k, v in s_sd.items():
        src = k.replace("encoder.layer.0.", "encoder.layer.1.")
        assert torch.equal(v, t_sd[src]), k
    assert not any(p is q for p in student.parameters() for q in teacher.parameters())
    with pytest.raises(ConfigError, match="0..1"):
        layer_subset_student(teacher, [0, 2])


def test_refuses_a_student_with_another_tokenizer(tmp_path: Path, tiny_backbone: Path) -> None:
    from transformers import BertTokenizerFast

    teacher = AutoTokenizer.from_pretrained(tiny_backbone)
    check_same_tokenizer(teacher, AutoTokenizer.from_pretrained(tiny_backbone), student_name="x")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film"]
    other = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    with pytest.raises(ConfigError, match="does not share the teacher's tokenizer"):
        check_same_tokenizer(teacher, other, student_name="other")


@pytest.mark.parametrize("task", ["ner", "cls"])
def test_layer_subset_distil_run_writes_a_loadable_student(
    task: str, teachers: dict[str, Path], tmp_path: Path
) -> None:
    cfg = distill_config(teachers[task], tmp_path, task, layers=[1], hidden_weight=0.5)
    out = distill(cfg, progress=False)
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 3
    assert metrics["distill"]["teacher_dev"] is not None
    assert metrics["training"]["params_total"] < metrics["distill"]["teacher_params"]
    student = load_artifact(out)
    assert student.model.config.num_hidden_layers == 1
    assert len(student.predict_text(["john visited paris"])) == 1


def test_catalog_student_with_same_tokenizer(
    teachers: dict[str, Path], tmp_path: Path, tiny_backbone: Path
) -> None:
    other = build_tiny_backbone(tmp_path / "student-bb", seed=3)  # same tokenizer, new weights
    cfg = distill_config(teachers["cls"], tmp_path, "cls")
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"backbone": str(other)})})
    out = distill(cfg, progress=False)
    assert load_artifact(out).meta.backbone["name"] == str(other)


def test_pruning_keeps_shapes_and_loads_with_plain_transformers(
    teachers: dict[str, Path], tmp_path: Path
) -> None:
    p = load_artifact(teachers["ner"])
    model = p.model
    splits, _ = load_splits(DataConfig(train=NER, dev=NER, test=NER))
    batch = p.task.collate(p.task.encode(splits.dev[:3]))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    before = model(**inputs).logits
    done = prune_model(model, p.task, splits.dev, PruneConfig(ffn=0.25, batches=1))
    assert done["intermediate_size"] == {"before": 64, "after": 48}
    after = model(**inputs).logits
    assert after.shape == before.shape
    model.save_pretrained(tmp_path / "pruned")
    plain = AutoModelForTokenClassification.from_pretrained(tmp_path / "pruned").eval()
    assert plain.config.intermediate_size == 48
    with torch.no_grad():
        assert torch.allclose(plain(**inputs).logits, model.eval()(**inputs).logits, atol=1e-5)
    with pytest.raises(ConfigError, match="prune_heads"):
        prune_model(model, p.task, splits.dev, PruneConfig(heads=0.5))


def test_distil_with_pruning_records_it(teachers: dict[str, Path], tmp_path: Path) -> None:
    cfg = distill_config(teachers["ner"], tmp_path, "ner", prune={"ffn": 0.5, "batches": 1})
    out = distill(cfg, progress=False)
    assert load_artifact(out).model.config.intermediate_size == 32


@pytest.mark.parametrize("path", CONFIGS, ids=[c.name for c in CONFIGS])
def test_shipped_distill_configs_run_one_step(
    path: Path, teachers: dict[str, Path], tmp_path: Path
) -> None:
    raw = load_distill_config(path)
    task = "ner" if raw.task == "token-classification" else "cls"
    data = tiny_config(Path("."), tmp_path, task).data.model_dump()
    cfg = load_distill_config(
        path,
        {
            "distill.teacher": str(teachers[task]),
            "data": data,
            "model.backbone": str(teachers[task]),
            "model.max_length": 16,
            "train.max_steps": 1,
            "train.eval_batch_size": 4,
            "output_dir": str(tmp_path),
            **({"distill.layers": [1]} if raw.distill.layers else {}),  # the teacher has 2
        },
    )
    out = distill(cfg, progress=False)
    assert (out / "cotune.json").exists()


def test_cli_distill_and_its_errors(teachers: dict[str, Path], tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from cotune.cli.main import app

    base = tiny_config(Path("."), tmp_path, "cls", max_steps=1).model_dump(mode="json")
    base["model"]["backbone"] = str(teachers["cls"])
    base["distill"] = {"teacher": str(teachers["cls"]), "layers": [0]}
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(base))
    runner = CliRunner()
    ok = runner.invoke(app, ["distill", str(path), "-q", "--distill.temperature", "3"])
    assert ok.exit_code == 0, ok.output
    assert "retention" in ok.output
    bad = runner.invoke(app, ["distill", str(path), "--distill.layers", "[0, 5]", "--overwrite"])
    assert bad.exit_code == 2 and "do not exist" in bad.output
    typo = runner.invoke(app, ["distill", str(path), "--distill.temprature", "3"])
    assert typo.exit_code == 2 and "did you mean 'temperature'" in typo.output


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"privacy": {"dp": {"epsilon": 8}}}, "privacy.dp"),
        ({"model": {"extend_vocab": True}}, "model.extend_vocab"),
    ],
)
def test_refuses_fine_tune_keys_it_would_ignore(
    tmp_path: Path, extra: dict[str, object], key: str
) -> None:
    base = tiny_config(tmp_path / "bb", tmp_path / "out", task="cls").model_dump(mode="json")
    raw = {**base, **extra, "distill": {"teacher": str(tmp_path)}}
    with pytest.raises(ValidationError, match=key):
        DistillConfig.model_validate(raw)
