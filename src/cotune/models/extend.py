"""`model.extend_vocab` of a run or pre-training config: the extended backbone, built once.

The folder is cached under `$COTUNE_CACHE/models/` by a hash of the base weights, the text and
the options, so repeated runs (a search, a bench, a resumed run) share one extension and an
artifact can name the exact backbone it was trained over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotune.config.schema import ExtendVocabConfig, RunConfig
from cotune.data.cache import cache_dir
from cotune.data.examples import Example, Provenance
from cotune.data.texts import load_texts, texts_of_examples
from cotune.errors import ConfigError
from cotune.models.card import write_backbone_card
from cotune.models.catalog import fingerprint
from cotune.models.vocab import extend_backbone


def extend_for_run(
    backbone: Path | str,
    cfg: ExtendVocabConfig,
    *,
    base_name: str,
    default_texts: Sequence[str],
    default_sources: Sequence[dict[str, Any]] = (),
) -> Path:
    """The extended folder for `backbone` (a local folder); `cfg.texts` or else the given
    texts (a run's training split) are what the new vocabulary is learned from."""
    if cfg.texts:
        loaded = load_texts(cfg.texts)
        texts, sources = loaded.texts, loaded.sources
    else:
        texts, sources = list(default_texts), list(default_sources)
    h = hashlib.sha256()
    h.update(fingerprint(backbone).encode())
    h.update(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    out = cache_dir("models") / f"{Path(str(base_name)).name}-extended-{h.hexdigest()[:16]}"
    if not (out / "config.json").exists():
        extend_backbone(
            backbone,
            texts,
            out,
            base_name=base_name,
            min_freq=cfg.min_freq,
            max_new=cfg.max_new,
            mode=cfg.mode,
            noise=cfg.noise,
            seed=cfg.seed,
            sources=sources,
            overwrite=True,
        )
        write_backbone_card(out)
    return out


def extend_for_split(
    backbone: Path | str,
    cfg: RunConfig,
    whole_model_saved: bool,
    train: Sequence[Example],
    provenance: Provenance,
) -> Path:
    """What a fine-tune's `model.extend_vocab` does: extend from the run's training split only
    (dev and test text stay unseen), unless `model.extend_vocab.texts` names other text."""
    assert cfg.model.extend_vocab is not None
    if not whole_model_saved:
        raise ConfigError(
            f"model.extend_vocab with method {cfg.method.name!r}: the method saves only its own "
            "weights, so the new embedding rows would be neither trained nor shipped",
            where="model.extend_vocab",
            fix="use method full, or extend first (`cotune vocab extend`) and point "
            "model.backbone at the new folder",
        )
    record = {**provenance.to_dict(), "use": "train-split", "texts": len(train)}
    return extend_for_run(
        backbone,
        cfg.model.extend_vocab,
        base_name=cfg.model.backbone,
        default_texts=texts_of_examples(train),
        default_sources=[record],
    )
