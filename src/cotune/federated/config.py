"""`cotune federate` config: a run config (task, data, model, method, train) plus `federation:`.

Every key of an ordinary run means the same here. `train.*` configures each party's local step
(one call of the training loop per round): its `epochs` are replaced by
`federation.local_epochs`, and `train.max_steps` caps a local step. `data` is what the *server*
sees: its dev split gives the global metric of every round and its test split the final score;
in `cotune federate simulate` the train split is cut into the parties' data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from cotune.config.load import RELATIVE_PATHS, load_config
from cotune.config.schema import RunConfig, Section, TrainConfig


class PrivacyOptions(Section):
    """Client-side differential privacy on the update a party sends (DP-FedAvg, local model):
    clip the update to `clip_norm` (L2) and add Gaussian noise of std noise_multiplier *
    clip_norm. Each party accounts its own epsilon (RDP, sample rate 1 per round joined): the
    guarantee covers the party's whole data set, not single examples."""

    clip_norm: float = Field(1.0, gt=0, description="L2 bound of a party's update.")
    noise_multiplier: float = Field(
        1.0, ge=0, description="Noise std as a multiple of clip_norm (0: clipping only)."
    )
    delta: float = Field(1e-5, gt=0, lt=1, description="The delta of (epsilon, delta)-DP.")


class PartitionOptions(Section):
    """How `cotune federate simulate` cuts the server's train split into parties."""

    scheme: Literal["iid", "dirichlet"] = Field(
        "iid",
        description="iid: a seeded shuffle dealt round-robin; dirichlet: each label (NER: the "
        "sentence's main entity type) spread over parties by Dirichlet(alpha) proportions.",
    )
    alpha: float = Field(
        0.5, gt=0, description="Dirichlet concentration: small = skewed, large = near IID."
    )
    seed: int = Field(0, description="Seed of the partition.")
    min_examples: int = Field(2, ge=1, description="Fewest examples a party may get.")


class LedgerOptions(Section):
    shapley: Literal["auto", "exact", "monte-carlo", "off"] = Field(
        "auto",
        description="Contribution of each party to the final dev metric. exact: every "
        "coalition re-aggregated from the stored updates; monte-carlo: permutation sampling; "
        "auto: exact up to `exact_max_parties`, else monte-carlo.",
    )
    exact_max_parties: int = Field(6, ge=1, le=12, description="Largest N for exact Shapley.")
    permutations: int = Field(
        200, ge=1, description="Monte-Carlo: permutations sampled (bounded by coalitions seen)."
    )
    seed: int = Field(0, description="Seed of the permutation sampling.")
    reward_pool: float = Field(
        100.0, ge=0, description="Reward split among parties in proportion to positive shares."
    )
    watts_per_core: float = Field(
        10.0,
        ge=0,
        description="Energy assumption: watts drawn per fully busy CPU core (energy = CPU "
        "seconds x this).",
    )


class FederationOptions(Section):
    rounds: int = Field(5, ge=1, description="Federated rounds.")
    local_epochs: float = Field(1.0, gt=0, description="Passes over its data a party makes.")
    clients_per_round: int | None = Field(
        None, ge=1, description="Parties sampled each round (default: all that are connected)."
    )
    min_clients: int = Field(
        2,
        ge=1,
        description="A round is aggregated only from at least this many accepted updates; "
        "fewer (drop-outs, rejections) leave the global model as it was.",
    )
    strategy: Literal["fedavg", "fedprox"] = Field(
        "fedavg",
        description="fedavg: average weighted by examples; fedprox: the same, with a "
        "proximal term mu/2 ||w - w_global||^2 in each party's loss.",
    )
    proximal_mu: float = Field(0.01, ge=0, description="FedProx mu.")
    clip_norm: float | None = Field(
        None, gt=0, description="Server-side: scale each update down to this L2 norm."
    )
    reject_norm: float | None = Field(
        1000.0, gt=0, description="Server-side: reject an update whose L2 norm exceeds this."
    )
    round_timeout: float = Field(
        600.0, gt=0, description="Seconds the server waits for a round's replies."
    )
    parties: int = Field(4, ge=1, description="simulate: how many parties to cut the data into.")
    partition: PartitionOptions = Field(default_factory=PartitionOptions)
    privacy: PrivacyOptions | None = Field(
        None, description="Client-side DP on updates (off when absent)."
    )
    ledger: LedgerOptions = Field(default_factory=LedgerOptions)
    keep_updates: bool = Field(
        True, description="Store every accepted update (the ledger re-aggregates coalitions)."
    )

    @model_validator(mode="after")
    def _counts(self) -> FederationOptions:
        if self.clients_per_round is not None and self.clients_per_round < self.min_clients:
            raise ValueError(
                f"clients_per_round {self.clients_per_round} < min_clients {self.min_clients}: "
                "no round could ever be aggregated"
            )
        if self.ledger.shapley != "off" and not self.keep_updates:
            raise ValueError("the ledger's Shapley values need keep_updates: true")
        return self


class FederatedConfig(RunConfig):
    federation: FederationOptions = Field(default_factory=FederationOptions)

    def run_name(self) -> str:
        if self.name:
            return self.name
        return f"{super().run_name()}-federated"

    def local_train(self) -> TrainConfig:
        """The `train` section of one local step: local_epochs in place of epochs."""
        return self.train.model_copy(update={"epochs": self.federation.local_epochs})


def load_federated_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> FederatedConfig:
    cfg = load_config(path, overrides, FederatedConfig, RELATIVE_PATHS)
    assert isinstance(cfg, FederatedConfig)
    return cfg


def is_federated_config(path: str | Path) -> bool:
    """Whether a YAML file is a federated config (has a top-level `federation:` section)."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return isinstance(raw, dict) and "federation" in raw
