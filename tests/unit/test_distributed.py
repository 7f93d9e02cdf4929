"""Data-parallel training, checked the way accelerate checks itself: two gloo processes with a
per-rank batch b end where one process with batch 2b ends; every example is trained on exactly
once per epoch across ranks; RNG states agree where they must (and differ where they must);
a killed run resumes under DDP to the weights of an uninterrupted one. GPU paths skip here
when no GPU is visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from cotune.config.schema import TrainConfig
from cotune.errors import ConfigError
from cotune.recipes.finetune import finetune
from cotune.training import distributed
from cotune.training.loop import shuffled_plan
from cotune.training.precision import Precision

from .distributed_helpers import run_ranks
from .helpers import tiny_config

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
needs_two_gpus = pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason="fewer than two CUDA GPUs visible"
)


def _config(backbone: Path, out: Path, *, dropout: bool = False, **train: Any) -> Any:
    cfg = tiny_config(backbone, out, "ner", **train)
    if not dropout:  # one process and two draw different dropout masks: compare without
        cfg.model.hidden_dropout = 0.0
        cfg.model.attention_dropout = 0.0
        cfg.model.classifier_dropout = 0.0
    return cfg


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("grouped", [True, False])
def test_every_example_is_trained_on_exactly_once_per_epoch(world: int, grouped: bool) -> None:
    lengths = [(i * 7919) % 23 + 1 for i in range(53)]  # 53: no batch size divides it
    cfg = TrainConfig(batch_size=6, grad_accum=2, seed=3, group_by_length=grouped)
    plan = shuffled_plan(cfg)
    for epoch in range(3):
        steps = plan(lengths, epoch)
        seen: list[int] = []
        for step in steps:
            for micro in step:
                shares = [
                    distributed.shard(micro, distributed.World(r, world)) for r in range(world)
                ]
                sizes = [len(s) for s in shares]
                assert max(sizes) - min(sizes) <= 1
                assert [i for s in shares for i in s] == list(micro)  # contiguous, in order
                seen += [i for s in shares for i in s]
        assert sorted(seen) == list(range(len(lengths)))
        # every rank plans the same epoch: the plan holds no RNG state of its own
        assert plan(lengths, epoch) == steps
    assert plan(lengths, 0) != plan(lengths, 1)


class Session:
    """One pair of gloo processes runs every data-parallel job of this module, one after the
    other (starting Python and importing torch twice is most of a job's time); the
    one-process references train here, in the test process."""

    def __init__(self, backbone: Path, root: Path) -> None:
        from cotune.distill.config import DistillConfig
        from cotune.recipes.distill import distill

        self.root = root
        matched = _config(backbone, root / "one", batch_size=4, max_steps=5, eval_every=2)
        self.one = finetune(matched, progress=False)
        # dropout on: each rank's own RNG stream must come back from the checkpoint
        resumable = _config(
            backbone, root / "ref", dropout=True, batch_size=4, epochs=2, checkpoint_every=2
        )
        self.killed_cfg = resumable.model_copy(update={"output_dir": root / "killed"})
        refused = _config(backbone, root / "refused", max_steps=1)
        finetune(refused, progress=False)  # that folder now holds a run

        teacher = finetune(_config(backbone, root / "teacher", max_steps=3), progress=False)
        raw = _config(backbone, root / "d1", batch_size=4, max_steps=3).model_dump(
            mode="json", exclude={"method", "tracking", "tune", "privacy"}
        )
        raw.pop("continual", None)
        raw["distill"] = {"teacher": str(teacher), "layers": [1], "temperature": 2.0}
        student_cfg = DistillConfig.model_validate(raw)
        self.student_one = distill(student_cfg, progress=False)
        lora = _config(backbone, root / "lora1", batch_size=4, max_steps=3, lr=1e-2)
        lora.method = lora.method.model_validate({"name": "lora", "r": 4, "dropout": 0.0})
        self.lora_one = finetune(lora, progress=False)

        def job(cfg: Any, kind: str = "finetune", **extra: Any) -> dict[str, Any]:
            return {"kind": kind, "config": cfg.model_dump(mode="json"), **extra}

        killed = job(self.killed_cfg)
        (
            self.matched,
            self.reference,
            self.killed,
            self.resumed,
            self.refused,
            self.student,
            self.lora,
        ) = run_ranks(
            2,
            [
                job(matched.model_copy(update={"output_dir": root / "two"})),
                job(resumable),
                {**killed, "crash_at": 3},
                {**killed, "resume": True},
                job(refused),
                job(student_cfg.model_copy(update={"output_dir": root / "d2"}), kind="distill"),
                job(lora.model_copy(update={"output_dir": root / "lora2"})),
            ],
            root / "ranks",
        )


@pytest.fixture(scope="module")
def session(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tiny_backbone, tmp_path_factory.mktemp("ddp"))


def _ok(ranks: list[dict[str, Any]]) -> Path:
    assert [r["error"] for r in ranks] == [None, None], ranks[0].get("traceback") or ranks[1].get(
        "traceback"
    )
    return Path(ranks[0]["out"])


def _train_losses(folder: Path) -> list[float]:
    rows = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["type"] == "train"]


def test_two_processes_with_batch_b_end_like_one_with_batch_2b(session: Session) -> None:
    one, two = session.one, _ok(session.matched)
    w1, w2 = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert w1.keys() == w2.keys()
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), k
    m1 = json.loads((one / "metrics.json").read_text())
    m2 = json.loads((two / "metrics.json").read_text())
    assert m2["training"]["steps"] == m1["training"]["steps"] == 5
    # words/s counts the global batch: both runs trained on the same words
    assert m2["training"]["train_words"] == m1["training"]["train_words"]
    assert m2["dev"]["f1"] == pytest.approx(m1["dev"]["f1"], abs=1e-6)
    assert _train_losses(two) == pytest.approx(_train_losses(one), rel=1e-5)
    # only rank 0 wrote: one run folder
    assert [p.name for p in (session.root / "two").iterdir()] == [two.name]


def test_random_states_agree_where_they_must(session: Session) -> None:
    ranks = session.matched
    # the ranks hold the same weights after every step ...
    by_rank = [[s["weights"] for s in r["steps"]] for r in ranks]
    assert len(by_rank[0]) == 5 and by_rank[0] == by_rank[1]
    # ... python's and numpy's streams agree (same seed, same draws) ...
    for stream in ("python_rng", "numpy_rng"):
        assert [s[stream] for s in ranks[0]["steps"]] == [s[stream] for s in ranks[1]["steps"]]
    # ... and torch's differ: each rank draws its own dropout masks
    assert ranks[0]["steps"][0]["torch_rng"] != ranks[1]["steps"][0]["torch_rng"]


def test_a_killed_ddp_run_resumes_to_the_uninterrupted_weights(session: Session) -> None:
    ref = _ok(session.reference)
    assert [r["error"] for r in session.killed] == ["killed", "killed"]
    out = _ok(session.resumed)
    w_ref, w_res = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(w_ref[k], w_res[k]) for k in w_ref)
    assert not (out / "checkpoints").exists()
    # the resumed steps are the very steps of the uninterrupted run, on both ranks
    for r in range(2):
        tail = {s["step"]: s["weights"] for s in session.reference[r]["steps"] if s["step"] > 2}
        assert {s["step"]: s["weights"] for s in session.resumed[r]["steps"]} == tail
        assert session.resumed[r]["steps"][0]["step"] == 3  # it went on from step 2's checkpoint


def test_a_refusal_on_rank_0_stops_every_rank(session: Session) -> None:
    rank0, rank1 = (r["error"] or "" for r in session.refused)
    assert "already holds a run" in rank0
    assert "rank 0 stopped at set-up" in rank1 and "already holds a run" in rank1


def test_distill_trains_data_parallel(session: Session) -> None:
    w1 = load_file(session.student_one / "model.safetensors")
    w2 = load_file(_ok(session.student) / "model.safetensors")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), k


def test_lora_trains_data_parallel(session: Session) -> None:
    from cotune.artifact import load_artifact

    one = dict(load_artifact(session.lora_one).model.named_parameters())
    two = dict(load_artifact(_ok(session.lora)).model.named_parameters())
    assert one.keys() == two.keys() and any("lora_" in k for k in one)
    for k in one:
        if "original_module" in k:  # peft's untrained copy of the head, drawn anew at load
            continue
        assert torch.allclose(one[k], two[k], atol=1e-5), k


def test_dp_sgd_is_refused_under_data_parallelism() -> None:
    with pytest.raises(ConfigError, match="DP-SGD does not run under data-parallel") as e:
        distributed.refuse_dp(distributed.World(rank=0, size=2), True)
    assert e.value.where == "privacy.dp"
    distributed.refuse_dp(distributed.World(), True)  # one process: DP-SGD runs as before


def test_fp16_is_refused_on_the_cpu_and_bf16_autocast_trains(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        Precision("fp16", torch.device("cpu"))
    cfg = tiny_config(tiny_backbone, tmp_path, max_steps=2, precision="bf16", device="cpu")
    out = finetune(cfg, progress=False)
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 2
    with pytest.raises(ConfigError, match="train.precision"):
        finetune(
            tiny_config(tiny_backbone, tmp_path / "f", max_steps=1, precision="fp16", device="cpu"),
            progress=False,
        )


def test_cuda_device_without_a_gpu_is_a_config_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match="no CUDA GPU") as e:
        distributed.pick_device("cuda", where="--device")
    assert e.value.where == "--device"


def test_cli_nproc_starts_torchrun(tiny_backbone: Path, tmp_path: Path) -> None:
    import yaml

    cfg = _config(tiny_backbone, tmp_path / "runs", batch_size=4, max_steps=2)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    done = subprocess.run(
        [sys.executable, "-m", "cotune", "train", str(path), "--nproc", "2", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "COTUNE_TRACKING": "none",
            "OMP_NUM_THREADS": "1",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "starting 2 processes" in done.stderr
    assert done.stderr.count("model written to") == 1  # rank 0 reports, once
    out = cfg.output_dir / cfg.run_name()
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 2


@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_the_gpu(tiny_backbone: Path, tmp_path: Path, precision: str) -> None:
    cfg = tiny_config(tiny_backbone, tmp_path, max_steps=3, device="cuda", precision=precision)
    out = finetune(cfg, progress=False)
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 3


@needs_two_gpus
def test_two_gpus_with_nccl_match_one_gpu(tiny_backbone: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_backbone, tmp_path / "one", batch_size=4, max_steps=4, device="cuda")
    one = finetune(cfg, progress=False)
    cfg2 = cfg.model_copy(update={"output_dir": tmp_path / "two"})
    (ranks,) = run_ranks(
        2, [{"kind": "finetune", "config": cfg2.model_dump(mode="json")}], tmp_path
    )
    w1 = load_file(one / "model.safetensors")
    w2 = load_file(_ok(ranks) / "model.safetensors")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-4), k
