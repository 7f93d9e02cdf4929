"""Differentially private fine-tuning (DP-SGD): per-example gradients against a batch-of-one
loop, the noise scale, Poisson sampling, accounting and its budget, resume, DP + LoRA training
only what it should, saved weights without wrapper prefixes, and clear config errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from cotune.artifact import load_artifact
from cotune.config.load import validate
from cotune.config.privacy import DPConfig, PrivacyConfig
from cotune.config.schema import MethodConfig, RunConfig
from cotune.data import load_splits
from cotune.errors import ConfigError
from cotune.methods import get_method
from cotune.privacy.dp import (
    DPSGD,
    Accountant,
    DPPlan,
    GhostClipper,
    calibrate_noise,
    epsilon_after,
    per_example_losses,
    poisson_steps,
    steps_within_budget,
)
from cotune.recipes.finetune import finetune
from cotune.tasks import build_task
from cotune.training.loop import TrainState

from .helpers import Crash, CrashAt, tiny_config

NO_DROPOUT = {"hidden_dropout": 0.0, "attention_dropout": 0.0, "classifier_dropout": 0.0}
PROBE = ["john visited paris today .", "a great film , i loves it and mary hates apple"]


def dp_config(
    backbone: Path,
    out: Path,
    task: str = "cls",
    method: str = "full",
    options: dict[str, Any] | None = None,
    dp: dict[str, Any] | None = None,
    **train: Any,
) -> RunConfig:
    cfg = tiny_config(backbone, out, task, **{"max_steps": 4, "lr": 1e-2, **train})
    return cfg.model_copy(
        update={
            "name": f"dp-{task}-{method}",
            # NER sentences must fit one window: DP protects rows
            "model": cfg.model.model_copy(update={"max_length": 64, **NO_DROPOUT}),
            "method": MethodConfig(name=method, **(options or {})),
            "privacy": PrivacyConfig(dp=DPConfig(**(dp or {"noise_multiplier": 0.5}))),
        }
    )


def task_model(backbone: Path, task: str, method: str) -> tuple[Any, Any, list[Any]]:
    """A task model with dropout off (so a batch and a batch of one see the same function)."""
    cfg = dp_config(backbone, Path("."), task, method)
    splits, _ = load_splits(cfg.data)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    t = build_task(cfg.task, splits.labels, tokenizer, cfg.model)
    torch.manual_seed(0)
    model = t.build_model(backbone, cfg.model)
    m = get_method(method)
    options = {"r": 4, "dropout": 0.0} if method == "lora" else {}
    model = m.apply(model, m.parse(options))
    if method == "lora":  # B starts at 0: move it so the base weights get a real gradient path
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1)
    model.train()
    return model, t, t.encode(splits.train)


@pytest.mark.parametrize(("task", "method"), [("cls", "full"), ("ner", "full"), ("cls", "lora")])
def test_per_example_gradients_match_a_batch_of_one_loop(
    tiny_backbone: Path, task: str, method: str
) -> None:
    """Ghost-clipping norms and the clipped sum equal what one-example-at-a-time backward
    passes give, embeddings (word, position, token type) included, with padding in the batch."""
    model, t, features = task_model(tiny_backbone, task, method)
    rows = sorted(features, key=len)[:: max(1, len(features) // 4)][:4]
    assert len({len(f) for f in rows}) > 1  # padded batch
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}

    per_example: list[dict[str, torch.Tensor]] = []
    for f in rows:  # the reference: plain forward (default position ids), batch of one
        model.zero_grad(set_to_none=True)
        batch = t.collate([f])
        labels = batch.pop("labels")
        per_example_losses(model(**batch).logits, labels).sum().backward()
        per_example.append({n: p.grad.clone() for n, p in params.items() if p.grad is not None})
    model.zero_grad(set_to_none=True)
    ref_norms = torch.stack(
        [torch.sqrt(sum((g**2).sum() for g in grads.values())) for grads in per_example]
    )
    clip = float(ref_norms.median())  # some examples clipped, some not

    clipper = GhostClipper(model, clip)
    loss, norms = clipper.clipped_loss(model, t.collate(rows))
    loss.backward()
    clipper.close()

    torch.testing.assert_close(norms, ref_norms, rtol=1e-4, atol=1e-6)
    scale = (clip / (ref_norms + 1e-6)).clamp(max=1.0)
    for name, p in params.items():
        expected = sum(s * g[name] for s, g in zip(scale, per_example, strict=True) if name in g)
        if not isinstance(expected, torch.Tensor):
            assert p.grad is None or not p.grad.any(), name
            continue
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-6, msg=name)
    if method == "full":
        for emb in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            grads = [p.grad for n, p in params.items() if emb in n]
            assert grads and grads[0] is not None and grads[0].abs().sum() > 0, emb
    assert not any(hasattr(p, "_norm_sample") for p in model.parameters())  # hooks gone


# sigma 2, C 0.5, expected batch 4: noise of std 2 x 0.5 / 4 on each weight
SMALL_PLAN = DPPlan(
    noise_multiplier=2.0,
    max_grad_norm=0.5,
    expected_batch=4,
    micro_batch=4,
    sample_rate=0.25,
    delta=1e-3,
    accountant="rdp",
    planned_steps=10,
    seed=0,
)


def test_noise_is_sigma_c_over_the_expected_batch_on_an_empty_step(tiny_backbone: Path) -> None:
    """A Poisson step with no example still moves the weights: by noise alone, std sigma*C/E."""
    model, _, _ = task_model(tiny_backbone, "cls", "full")
    engine = DPSGD(model, SMALL_PLAN)
    state = TrainState()
    torch.manual_seed(0)
    engine.on_after_backward(state, model)
    noise = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert noise.numel() == sum(p.numel() for p in model.parameters())
    assert abs(float(noise.std()) - 2.0 * 0.5 / 4) < 0.01
    assert abs(float(noise.mean())) < 0.01
    assert state.plugins["dp"]["history"] == [[2.0, 0.25, 1]]
    engine.on_train_end(state, model)


def test_each_logged_step_reports_the_signal_to_noise_ratio(tiny_backbone: Path) -> None:
    """dp_snr = |clipped sum| / |noise|: 0 for a step with no example; for a known clipped sum
    of 2 rows of g each, 2 g sqrt(d) / (sigma C sqrt(d)) = 2 g / (sigma C)."""
    model, _, _ = task_model(tiny_backbone, "cls", "full")
    engine = DPSGD(model, SMALL_PLAN)
    state = TrainState()
    torch.manual_seed(0)
    engine.on_after_backward(state, model)  # no example: noise only
    state.history.append({"type": "train", "step": 1})
    engine.on_step_end(state, model)
    assert state.history[-1]["dp_snr"] == 0.0
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.3 / 2)  # the loop's mean over the step's 2 rows
    engine._step_rows = 2
    engine.on_after_backward(state, model)
    state.history.append({"type": "train", "step": 2})
    engine.on_step_end(state, model)
    assert abs(state.history[-1]["dp_snr"] - 0.3 / (2.0 * 0.5)) < 0.01
    assert engine.summary()["mean_snr"] == pytest.approx(0.15, abs=0.01)
    engine.on_train_end(state, model)


def test_poisson_sampling() -> None:
    lengths = [5 + i % 7 for i in range(400)]
    a = poisson_steps(lengths, 0, expected_batch=40, micro_batch=16, seed=3)
    assert a == poisson_steps(lengths, 0, expected_batch=40, micro_batch=16, seed=3)
    assert a != poisson_steps(lengths, 1, expected_batch=40, micro_batch=16, seed=3)
    assert len(a) == 10  # ceil(400 / 40) steps: one epoch in expectation
    sizes = [sum(len(m) for m in step) for step in a]
    assert len(set(sizes)) > 1  # Poisson: the batch size varies
    many = [
        sum(len(m) for m in step)
        for e in range(20)
        for step in poisson_steps(lengths, e, expected_batch=40, micro_batch=16, seed=3)
    ]
    assert abs(sum(many) / len(many) - 40) < 2
    assert all(len(m) <= 16 for step in a for m in step)
    assert all(len(set(i for m in step for i in m)) == sum(len(m) for m in step) for step in a)


def test_accounting_calibration_and_budget() -> None:
    q, delta = 0.05, 1e-5
    sigma = calibrate_noise(3.0, delta, q, 200)
    assert 2.95 <= epsilon_after(200, sigma, q, delta) <= 3.0
    k = steps_within_budget(2.0, sigma, q, delta)
    assert epsilon_after(k, sigma, q, delta) <= 2.0 < epsilon_after(k + 1, sigma, q, delta)
    acc = Accountant(sigma, q, delta, "rdp")
    for _ in range(7):
        acc.step()
    again = Accountant(sigma, q, delta, "rdp")
    again.load(json.loads(json.dumps(acc.state())))
    assert again.steps == 7 and again.epsilon() == pytest.approx(epsilon_after(7, sigma, q, delta))
    prv = epsilon_after(200, sigma, q, delta, "prv")
    assert 0 < prv <= epsilon_after(200, sigma, q, delta) + 0.05  # PRV is the tighter bound


def test_training_stops_at_the_epsilon_budget(tiny_backbone: Path, tmp_path: Path) -> None:
    dp = {"noise_multiplier": 0.8, "epsilon": 6.0}
    cfg = dp_config(tiny_backbone, tmp_path, "ner", dp=dp, max_steps=None, epochs=20)
    out = finetune(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    priv = m["training"]["privacy"]
    q, delta = priv["sample_rate"], priv["delta"]
    assert priv["budget_exhausted"] and priv["steps"] < priv["planned_steps"]
    assert m["training"]["steps"] == priv["steps"] == steps_within_budget(6.0, 0.8, q, delta)
    assert priv["epsilon"] <= 6.0 < epsilon_after(priv["steps"] + 1, 0.8, q, delta)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert all("epsilon" in h for h in history)
    eps = [h["epsilon"] for h in history]
    assert eps == sorted(eps) and eps[-1] == pytest.approx(priv["epsilon"], abs=1e-3)
    last_eval = [h for h in history if h["type"] == "eval"][-1]
    assert last_eval["step"] == priv["steps"]  # the weights at the stop were evaluated
    card = (out / "README.md").read_text()
    assert "Differential privacy: (epsilon = " in card and "budget epsilon 6" in card


def test_resume_continues_the_accounting_and_saves_plain_weights(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    cfg = dp_config(tiny_backbone, tmp_path / "a", max_steps=6, checkpoint_every=2)
    ref = finetune(cfg, progress=False)
    cfg_b = cfg.model_copy(update={"output_dir": tmp_path / "b"})
    with pytest.raises(Crash):
        finetune(cfg_b, progress=False, callbacks=[CrashAt(5)])  # after the checkpoint at 4
    ckpt = torch.load(
        cfg_b.output_dir / cfg_b.run_name() / "checkpoints" / "step-00000004" / "state.pt",
        weights_only=True,
    )
    assert ckpt["state"]["plugins"]["dp"]["history"][0][2] == 4
    resumed = finetune(cfg_b, resume=True, progress=False)

    m_ref = json.loads((ref / "metrics.json").read_text())["training"]["privacy"]
    m_res = json.loads((resumed / "metrics.json").read_text())["training"]["privacy"]
    assert m_res["steps"] == m_ref["steps"] == 6
    assert m_res["epsilon"] == m_ref["epsilon"] > 0
    with (
        safe_open(str(ref / "model.safetensors"), "pt") as a,
        safe_open(str(resumed / "model.safetensors"), "pt") as b,
    ):
        names = list(a.keys())
        assert not [n for n in names if "_module" in n or "grad_sample" in n]
        assert all(torch.equal(a.get_tensor(n), b.get_tensor(n)) for n in names)
    # plain transformers loads the DP model with no missing or unexpected weight
    model, info = AutoModelForSequenceClassification.from_pretrained(ref, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tok = AutoTokenizer.from_pretrained(ref)
    batch = dict(tok(PROBE, padding=True, return_tensors="pt"))
    with torch.no_grad():
        plain = model.eval()(**batch).logits
        ours = load_artifact(ref).model(**batch).logits
    torch.testing.assert_close(plain, ours)


class Snapshot:
    """Weights and probe logits before the first update, and the model as training left it."""

    def __init__(self, tokenizer: Any) -> None:
        self.batch = dict(tokenizer(PROBE, padding=True, return_tensors="pt"))
        self.before: dict[str, torch.Tensor] = {}
        self.logits: torch.Tensor | None = None
        self.model: Any = None

    def on_after_backward(self, state: TrainState, model: Any) -> None:
        if state.step == 0:
            self.before = {n: p.detach().clone() for n, p in model.named_parameters()}
            model.eval()
            with torch.no_grad():
                self.logits = model(**self.batch).logits
            model.train()

    def on_step_end(self, state: TrainState, model: Any) -> None:
        pass

    def on_train_end(self, state: TrainState, model: Any) -> None:
        self.model = model


def test_dp_lora_changes_only_lora_and_head_weights(tiny_backbone: Path, tmp_path: Path) -> None:
    """Opacus issue 820 (DP + peft LoRA silently corrupting the update): every trained weight
    moves, nothing else does, the artifact holds what was trained, and it predicts otherwise
    than the base."""
    cfg = dp_config(
        tiny_backbone, tmp_path, method="lora", options={"r": 4, "dropout": 0.0}, max_steps=5
    )
    snap = Snapshot(AutoTokenizer.from_pretrained(tiny_backbone))
    out = finetune(cfg, progress=False, callbacks=[snap])
    trainable = {n for n, p in snap.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    after = dict(snap.model.named_parameters())
    for name, before in snap.before.items():
        moved = not torch.equal(before, after[name].detach())
        assert moved == (name in trainable), name
    assert all(torch.isfinite(p).all() for p in after.values())

    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "_module" in k]  # noqa: SIM118
    loaded = load_artifact(out)
    with torch.no_grad():
        trained_logits = snap.model.eval()(**snap.batch).logits
        loaded_logits = loaded.model(**snap.batch).logits
    torch.testing.assert_close(loaded_logits, trained_logits)
    assert snap.logits is not None
    assert (loaded_logits - snap.logits).abs().max() > 1e-3
    priv = json.loads((out / "metrics.json").read_text())["training"]["privacy"]
    assert priv["steps"] == 5 and priv["noise_multiplier"] == 0.5


def test_grad_accum_is_a_virtual_batch(tiny_backbone: Path, tmp_path: Path) -> None:
    """The same Poisson steps cut into micro-batches of 1 or taken whole: same weights."""
    weights = []
    for bs, accum in ((4, 1), (1, 4)):
        cfg = dp_config(tiny_backbone, tmp_path / str(bs), batch_size=bs, grad_accum=accum)
        out = finetune(cfg, progress=False)
        with safe_open(str(out / "model.safetensors"), "pt") as f:
            weights.append({k: f.get_tensor(k) for k in f.keys()})  # noqa: SIM118
        priv = json.loads((out / "metrics.json").read_text())["training"]["privacy"]
        assert priv["expected_batch_size"] == 4
    for name, w in weights[0].items():
        torch.testing.assert_close(weights[1][name], w, rtol=1e-4, atol=1e-5, msg=name)


def test_config_errors_name_the_key(tiny_backbone: Path, tmp_path: Path) -> None:
    raw = tiny_config(tiny_backbone, tmp_path).model_dump(mode="json")
    with pytest.raises(ConfigError, match="privacy.dp.*epsilon.*noise_multiplier"):
        validate({**raw, "privacy": {"dp": {"delta": 1e-5}}})
    with pytest.raises(ConfigError, match="unknown key 'privacy.dp.epsilom'"):
        validate({**raw, "privacy": {"dp": {"epsilon": 1, "epsilom": 2}}})
    with pytest.raises(ConfigError, match="privacy.dp.accountant"):
        validate({**raw, "privacy": {"dp": {"epsilon": 1, "accountant": "moments"}}})

    def fails(match: str, **kw: Any) -> None:
        with pytest.raises(ConfigError, match=match):
            finetune(dp_config(tiny_backbone, tmp_path, **kw), progress=False, overwrite=True)

    fails(r"privacy\.dp\.delta", dp={"epsilon": 3, "delta": 0.5})
    fails(r"privacy\.dp\.noise_multiplier", dp={"epsilon": 0.01, "noise_multiplier": 0.3})
    fails(r"method\.name", method="ia3")
    ner = dp_config(tiny_backbone, tmp_path, "ner")
    ner = ner.model_copy(update={"model": ner.model.model_copy(update={"max_length": 8})})
    with pytest.raises(ConfigError, match="model.max_length"):
        finetune(ner, progress=False, overwrite=True)
