"""Vocabulary extension: a new backbone folder whose tokenizer knows the characters or word-pieces
of a domain that the base lacks, with an embedding row for each; every old id and row unchanged.

Why real WordPiece entries and not `tokenizer.add_tokens`: added tokens are matched as raw
strings before normalisation and pre-tokenisation (`add_tokens(["ing"])` cuts "thing" in two),
sit outside vocab.txt and are not seen by the greedy longest-match. An entry appended to the
WordPiece vocabulary goes through the same normaliser, pre-tokenizer and longest-match as every
other piece, so the saved folder loads with plain `AutoTokenizer.from_pretrained` and tokenises
as the base wherever the base already knew the text. BERT's normaliser isolates each CJK
character as a word of its own, so a CJK character needs one entry (`字`); other characters can
also sit inside a word and need `c` and `##c`.

New rows: the mean of the base rows of the pieces the new entry replaces ("covid" <- "co",
"##vid"), else (a character the base could not spell at all) the mean embedding plus Gaussian
noise, so the new rows are told apart from the first step. Rows are appended by editing the
weights file, so everything else in it (pooler, an MLM head and its bias) is carried over as is.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from cotune.data.examples import TextExample
from cotune.data.stats import unk_rate
from cotune.errors import ArtifactError, ConfigError
from cotune.files import staged_folder

Mode = Literal["auto", "chars", "wordpieces"]
LINEAGE_FILE = "cotune-backbone.json"  # how a derived backbone was made, step by step
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json")
# weights with one row (or entry) per vocabulary id, besides the input embeddings
_ROW_SUFFIXES = ("word_embeddings.weight", "decoder.weight")
_BIAS_SUFFIXES = ("predictions.bias", "predictions.decoder.bias", "lm_head.bias")
UNK_SAMPLE = 20_000  # texts the unknown-token rate is measured on


@dataclass
class Extension:
    """What `extend_backbone` did: written into the new folder's lineage and card."""

    base: str
    base_fingerprint: str | None
    mode: str
    min_freq: int
    max_new: int | None
    old_vocab_size: int
    new_vocab_size: int
    added: list[str]
    init_from_pieces: int  # rows that are the mean of the pieces they replace
    init_from_mean: int  # rows that are the mean embedding + noise
    noise: float
    texts: int
    unk_rate_before: float
    unk_rate_after: float
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "vocab-extension", **asdict(self)}


# --------------------------------------------------------------------------- reading the base


def is_cjk(ch: str) -> bool:
    """The code points BERT's normaliser isolates as single-character words."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _load_tokenizer(base: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base)
    except Exception as e:  # any load failure is the same problem for the user
        raise ConfigError(f"cannot load a tokenizer from {base}: {e}", where=str(base)) from None
    spec = json.loads(tok.backend_tokenizer.to_str())
    if spec.get("model", {}).get("type") != "WordPiece":
        raise ConfigError(
            f"{base} has a {spec.get('model', {}).get('type')} tokenizer; vocabulary extension "
            "handles WordPiece (BERT-family) tokenizers",
            where=str(base),
            fix="extend a BERT-family backbone (e.g. minilm-l6)",
        )
    return tok


def _vocab_list(tok: Any) -> list[str]:
    vocab: dict[str, int] = tok.backend_tokenizer.get_vocab(with_added_tokens=True)
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in ordered] != list(range(len(ordered))):
        raise ConfigError(
            "the tokenizer's ids are not 0..N-1 (added tokens beyond the vocabulary?)",
            fix="extend a plain WordPiece tokenizer (vocab.txt + tokenizer.json)",
        )
    return [t for t, _ in ordered]


def greedy_pieces(
    word: str, vocab: Mapping[str, int], *, continuation: bool, max_chars: int = 100
) -> list[int] | None:
    """WordPiece's greedy longest-match-first, as BERT tokenises a word (None: [UNK])."""
    if not word or len(word) > max_chars:
        return None
    out: list[int] = []
    start = 0
    while start < len(word):
        end, found = len(word), None
        while end > start:
            piece = word[start:end]
            if start > 0 or continuation:
                piece = "##" + piece
            if piece in vocab:
                found = vocab[piece]
                break
            end -= 1
        if found is None:
            return None
        out.append(found)
        start = end
    return out


def _words(texts: Iterable[str], backend: Any) -> Counter[str]:
    """Pre-tokenised words of the texts as the base tokenizer sees them (after normalising)."""
    counts: Counter[str] = Counter()
    norm, pre = backend.normalizer, backend.pre_tokenizer
    for text in texts:
        normed = norm.normalize_str(text) if norm is not None else text
        words = pre.pre_tokenize_str(normed) if pre is not None else [(normed, None)]
        counts.update(w for w, _ in words)
    return counts


# --------------------------------------------------------------------------- choosing entries


def missing_characters(words: Counter[str], vocab: Mapping[str, int]) -> Counter[str]:
    """Pieces `c` / `##c` that unknown words need, counted by occurrence.

    Greedy WordPiece fails on a word only where not even the one-character piece exists, so a
    word becomes known once every `c` (first character) / `##c` (later ones) it uses exists.
    """
    need: Counter[str] = Counter()
    for word, n in words.items():
        if greedy_pieces(word, vocab, continuation=False) is not None:
            continue
        for k, ch in enumerate(word):
            piece = ch if k == 0 else "##" + ch
            if piece not in vocab:
                need[piece] += n
    return need


def trained_wordpieces(
    texts: Sequence[str], backend: Any, vocab: Mapping[str, int], min_freq: int, unk: str
) -> Counter[str]:
    """Pieces of a WordPiece vocabulary trained on the texts that the base lacks, counted by
    how often the trained tokenizer uses them on the same texts."""
    from tokenizers import Tokenizer, models, trainers

    learner = Tokenizer(models.WordPiece(unk_token=unk))
    learner.normalizer = backend.normalizer
    learner.pre_tokenizer = backend.pre_tokenizer
    trainer = trainers.WordPieceTrainer(
        vocab_size=max(len(vocab), 1000),
        min_frequency=min_freq,
        special_tokens=[unk],
        continuing_subword_prefix="##",
        show_progress=False,
    )
    learner.train_from_iterator(texts, trainer=trainer)
    used: Counter[str] = Counter()
    for enc in learner.encode_batch(list(texts), add_special_tokens=False):
        used.update(enc.tokens)
    return Counter({p: n for p, n in used.items() if p not in vocab and p != unk})


def resolve_mode(mode: Mode, words: Counter[str], vocab: Mapping[str, int]) -> str:
    """auto: chars when most occurrences of unknown words are CJK characters."""
    if mode != "auto":
        return mode
    unknown = {
        w: n for w, n in words.items() if greedy_pieces(w, vocab, continuation=False) is None
    }
    cjk = sum(n for w, n in unknown.items() if len(w) == 1 and is_cjk(w))
    return "chars" if unknown and cjk * 2 >= sum(unknown.values()) else "wordpieces"


def choose(counts: Counter[str], min_freq: int, max_new: int | None) -> list[str]:
    """Entries seen at least `min_freq` times, most frequent first (ties by text: stable)."""
    ranked = sorted((p for p, n in counts.items() if n >= min_freq), key=lambda p: (-counts[p], p))
    return ranked[:max_new] if max_new else ranked


def _printable(piece: str) -> bool:
    """A vocab.txt line must survive the round trip: no whitespace or control characters."""
    core = piece[2:] if piece.startswith("##") else piece
    return bool(core) and not any(
        ch.isspace() or unicodedata.category(ch).startswith("C") for ch in core
    )


# --------------------------------------------------------------------------- new rows


def replaced_pieces(piece: str, vocab: Mapping[str, int]) -> list[int] | None:
    """Base ids the new entry stands for (its base tokenisation), or None (was [UNK])."""
    cont = piece.startswith("##")
    surface = piece[2:] if cont else piece
    if len(surface) <= 1 and not cont:
        return None
    ids = greedy_pieces(surface, vocab, continuation=cont)
    if ids is None and cont:  # `##x` where the base only has `x`: the same character
        ids = greedy_pieces(surface, vocab, continuation=False)
    return ids


def new_rows(
    matrix: torch.Tensor, pieces: Sequence[list[int] | None], noise: float, seed: int
) -> torch.Tensor:
    """One row per new entry: mean of the rows it replaces, else mean row + noise."""
    base = matrix.float()
    gen = torch.Generator().manual_seed(seed)
    if base.dim() == 1:  # an output bias: no noise, the mean bias is a neutral prior
        rows = [base[ids].mean() if ids else base.mean() for ids in pieces]
        return torch.stack(rows).to(matrix.dtype) if rows else base[:0]
    mean, std = base.mean(0), base.std(0)
    out = []
    for ids in pieces:
        if ids:
            out.append(base[ids].mean(0))
        else:
            out.append(mean + noise * std * torch.randn(mean.shape, generator=gen))
    return torch.stack(out).to(matrix.dtype) if out else base[:0]


def _read_weights(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    st = folder / "model.safetensors"
    if st.exists():
        return load_file(st), "model.safetensors"
    pt = folder / "pytorch_model.bin"
    if pt.exists():
        raw = torch.load(pt, map_location="cpu", weights_only=True)
        # tied weights share storage in .bin files; safetensors wants separate tensors
        return {k: v.contiguous().clone() for k, v in raw.items()}, "pytorch_model.bin"
    raise ConfigError(
        f"{folder} has no model.safetensors or pytorch_model.bin (sharded checkpoints are not "
        "supported)",
        where=str(folder),
        fix="point at a folder written by save_pretrained",
    )


def extend_weights(
    tensors: dict[str, torch.Tensor],
    old_size: int,
    pieces: Sequence[list[int] | None],
    noise: float,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Append rows to every per-vocabulary tensor: input embeddings, an untied decoder, an MLM
    output bias. All other tensors, and the old rows, are returned unchanged."""
    out = dict(tensors)
    emb_keys = [k for k in tensors if k.endswith("word_embeddings.weight")]
    if len(emb_keys) != 1 or tensors[emb_keys[0]].shape[0] != old_size:
        shapes = {k: tuple(tensors[k].shape) for k in emb_keys}
        raise ConfigError(
            f"expected one word-embedding matrix with {old_size} rows (the tokenizer's size), "
            f"found {shapes}",
            fix="the tokenizer and the weights of this folder do not belong together",
        )
    emb = tensors[emb_keys[0]]
    rows = new_rows(emb, pieces, noise, seed)
    for key, value in tensors.items():
        per_id = value.dim() >= 1 and value.shape[0] == old_size
        if per_id and key.endswith(_ROW_SUFFIXES):
            # an untied decoder shares the input rows' initialisation, as a tied one would
            extra = rows if key == emb_keys[0] else new_rows(value, pieces, noise, seed)
            out[key] = torch.cat([value, extra.to(value.dtype)])
        elif per_id and value.dim() == 1 and key.endswith(_BIAS_SUFFIXES):
            out[key] = torch.cat([value, new_rows(value, pieces, noise, seed)])
    return out


# --------------------------------------------------------------------------- the new folder


def write_tokenizer(tok: Any, added: Sequence[str], folder: Path) -> None:
    """Save the base tokenizer with `added` appended to its WordPiece vocabulary (tokenizer.json
    and vocab.txt agree, so either loader gives the same ids)."""
    old = _vocab_list(tok)
    tok.save_pretrained(folder)
    spec = json.loads(tok.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    for k, piece in enumerate(added):
        vocab[piece] = len(old) + k
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    lines = [*old, *added]
    (folder / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_lineage(folder: Path | str) -> list[dict[str, Any]]:
    path = Path(str(folder)) / LINEAGE_FILE
    if not path.is_file():
        return []
    steps: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["steps"]
    return steps


def write_lineage(folder: Path, base_name: str, base: Path | str, step: dict[str, Any]) -> None:
    """The base's own steps (if it was derived too) + this one, so a card tells the whole way."""
    from cotune.files import atomic_write_text
    from cotune.models.catalog import BACKBONES, fingerprint

    previous = read_lineage(base)
    root: dict[str, Any]
    if previous and (Path(str(base)) / LINEAGE_FILE).is_file():
        root = json.loads((Path(str(base)) / LINEAGE_FILE).read_text(encoding="utf-8"))["root"]
    else:
        entry = BACKBONES.get(base_name)
        root = {
            "name": base_name,
            "fingerprint": fingerprint(base) if Path(str(base)).exists() else None,
            "licence": entry.licence if entry else None,
        }
    doc = {"format_version": 1, "root": root, "steps": [*previous, step]}
    atomic_write_text(folder / LINEAGE_FILE, json.dumps(doc, indent=2, ensure_ascii=False))


def texts_unk_rate(texts: Sequence[str], tokenizer: Any) -> float:
    return unk_rate([TextExample(t, []) for t in texts[:UNK_SAMPLE]], tokenizer, UNK_SAMPLE)


def extend_backbone(
    base: Path | str,
    texts: Sequence[str],
    out: Path,
    *,
    base_name: str | None = None,
    min_freq: int = 2,
    max_new: int | None = None,
    mode: Mode = "auto",
    noise: float = 0.1,
    seed: int = 0,
    sources: Sequence[dict[str, Any]] = (),
    overwrite: bool = False,
) -> Extension:
    """Write to `out` a copy of backbone folder `base` whose vocabulary also holds what `texts`
    need. `out` appears complete or not at all (written beside it, then renamed)."""
    from transformers import AutoTokenizer

    from cotune.models.catalog import fingerprint

    base = Path(str(base))
    if not texts:
        raise ConfigError("no text to learn the vocabulary from", fix="give --from / texts")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} already exists", fix="choose another folder, or --overwrite")
    tok = _load_tokenizer(base)
    old = _vocab_list(tok)
    vocab = {p: i for i, p in enumerate(old)}
    words = _words(texts, tok.backend_tokenizer)
    resolved = resolve_mode(mode, words, vocab)
    if resolved == "chars":
        counts = missing_characters(words, vocab)
    else:
        counts = trained_wordpieces(texts, tok.backend_tokenizer, vocab, min_freq, tok.unk_token)
    added = [p for p in choose(counts, min_freq, None) if _printable(p)]
    added = added[:max_new] if max_new else added
    pieces = [replaced_pieces(p, vocab) for p in added]

    tensors, _ = _read_weights(base)
    extended = extend_weights(tensors, len(old), pieces, noise, seed)
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    config["vocab_size"] = len(old) + len(added)

    with staged_folder(out) as stage:
        save_file(extended, str(stage / "model.safetensors"), metadata={"format": "pt"})
        (stage / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        write_tokenizer(tok, added, stage)
        new_tok = AutoTokenizer.from_pretrained(stage)
        if len(new_tok) != config["vocab_size"] or (
            added and new_tok.convert_tokens_to_ids(added[-1]) != config["vocab_size"] - 1
        ):
            raise ArtifactError(
                f"the saved tokenizer has {len(new_tok)} ids, expected {config['vocab_size']}",
                where=str(stage),
                fix="report this: the tokenizer files did not round-trip",
            )
        ext = Extension(
            base=base_name or str(base),
            base_fingerprint=fingerprint(base),
            mode=resolved,
            min_freq=min_freq,
            max_new=max_new,
            old_vocab_size=len(old),
            new_vocab_size=config["vocab_size"],
            added=added,
            init_from_pieces=sum(1 for p in pieces if p),
            init_from_mean=sum(1 for p in pieces if not p),
            noise=noise,
            texts=len(texts),
            unk_rate_before=texts_unk_rate(texts, tok),
            unk_rate_after=texts_unk_rate(texts, new_tok),
            sources=list(sources),
        )
        write_lineage(stage, base_name or str(base), base, ext.to_dict())
    return ext
