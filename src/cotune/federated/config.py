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


MODULUS_RANGE = 2**32  # SecAgg+'s modulus (Flower's default, its largest)


class SecureAggregationOptions(Section):
    """Flower's SecAgg+ (Bell et al. 2020): each party masks its update with pairwise and
    private masks that cancel only in the sum, so the server learns the example-weighted mean
    of the round's updates and never one party's update. Before masking, a party multiplies its
    update by num-examples / max_weight, clips every value of that to +-clipping_range and
    quantises it to quantization_range levels: a delta value beyond clipping_range x
    max_weight / num-examples (never less than clipping_range while max_weight >= the party's
    examples) is clipped, and the mean is exact up to 2 x parties x clipping_range /
    sum(round(num-examples / max_weight x quantization_range)) per value (recorded each round)."""

    num_shares: int | float = Field(
        1.0,
        gt=0,
        description="Shares each party's secrets are split into: a fraction (0, 1] of the "
        "round's parties, or a count >= 3. More shares tolerate more drop-outs, cost more.",
    )
    reconstruction_threshold: int | float = Field(
        0.66,
        gt=0,
        description="Shares needed to rebuild a secret: a fraction (0, 1] of num_shares, or a "
        "count below num_shares. Higher protects better, tolerates fewer drop-outs.",
    )
    clipping_range: float = Field(
        8.0,
        gt=0,
        description="Every value of an update, scaled by num-examples / max_weight, is clipped "
        "to +-clipping_range before quantisation (update values are far smaller).",
    )
    quantization_range: int = Field(
        2**22,
        ge=2**10,
        le=2**30,
        description="Integer levels a value in +-clipping_range is quantised to; parties x "
        "quantization_range must stay below 2^32 (the masking modulus).",
    )
    max_weight: float | None = Field(
        None,
        gt=0,
        description="The example count that weighs 1 (must be at least the largest party's "
        "count for the clipping bound above). Default: the largest count a party reported in "
        "an earlier round, 1000 before any is known. Smaller is more precise.",
    )

    @model_validator(mode="after")
    def _shares(self) -> SecureAggregationOptions:
        shares, threshold = self.num_shares, self.reconstruction_threshold
        if isinstance(shares, float) and shares > 1:
            raise ValueError(
                f"secure_aggregation.num_shares {shares} as a fraction must be in (0, 1]: "
                "write a count (an integer >= 3) or a fraction of the round's parties"
            )
        if isinstance(shares, int) and shares == 2:
            raise ValueError(
                "secure_aggregation.num_shares 2 is too few to hide anything: use 1.0 (all "
                "the round's parties) or a count >= 3"
            )
        if isinstance(threshold, float) and threshold > 1:
            raise ValueError(
                f"secure_aggregation.reconstruction_threshold {threshold} as a fraction must "
                "be in (0, 1] (of num_shares); or write a count"
            )
        if isinstance(threshold, int) and isinstance(shares, int) and threshold >= shares > 1:
            raise ValueError(
                f"secure_aggregation.reconstruction_threshold {threshold} must be below "
                f"num_shares {shares}"
            )
        return self


# options that need each party's own update, which secure aggregation hides from the server:
# left unset they default to off with it; set, they are refused (FederationOptions._secure)
NEEDS_UPDATES = {"clip_norm": None, "reject_norm": None, "keep_updates": False}


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
    secure_aggregation: SecureAggregationOptions | None = Field(
        None,
        description="Flower's SecAgg+ (off when absent; `{}` turns it on with defaults): the "
        "server sees only the weighted mean of each round's updates. Rules out what needs one "
        "party's update: clip_norm, reject_norm, keep_updates and the ledger's Shapley values "
        "default to off with it, and setting them is an error. Needs min_clients >= 2 (with 2, "
        "each party can compute the other's update from the mean: use 3 or more).",
    )

    @model_validator(mode="before")
    @classmethod
    def _secure_defaults(cls, data: Any) -> Any:
        """With secure aggregation on, the options that need each party's update default to
        off (unset ones only: `_secure` refuses a value the user wrote)."""
        if not isinstance(data, dict) or data.get("secure_aggregation") is None:
            return data
        data = {**NEEDS_UPDATES, **data}
        ledger = data.get("ledger")
        if ledger is None:
            data["ledger"] = {"shapley": "off"}
        elif isinstance(ledger, dict):
            data["ledger"] = {"shapley": "off", **ledger}
        return data

    @model_validator(mode="after")
    def _counts(self) -> FederationOptions:
        if self.clients_per_round is not None and self.clients_per_round < self.min_clients:
            raise ValueError(
                f"clients_per_round {self.clients_per_round} < min_clients {self.min_clients}: "
                "no round could ever be aggregated"
            )
        if self.secure_aggregation is not None:
            self._secure(self.secure_aggregation)
        if self.ledger.shapley != "off" and not self.keep_updates:
            raise ValueError("the ledger's Shapley values need keep_updates: true")
        return self

    def _secure(self, opts: SecureAggregationOptions) -> None:
        hidden = "secure aggregation hides each party's update from the server"
        for key, off in NEEDS_UPDATES.items():
            value = getattr(self, key)
            if value != off:
                raise ValueError(
                    f"federation.{key} {value!r} needs each party's update, and {hidden}: "
                    f"remove federation.{key} (left out, it is off with secure_aggregation; a "
                    "party's own clipping, federation.privacy.clip_norm, still applies before "
                    "masking), or remove federation.secure_aggregation"
                )
        if self.ledger.shapley != "off":
            raise ValueError(
                f"federation.ledger.shapley {self.ledger.shapley!r} re-aggregates coalitions "
                f'from each party\'s update, and {hidden}: set it to "off" (quoted in YAML) or '
                "leave it out (it defaults to off with secure_aggregation)"
            )
        if self.min_clients < 2:
            raise ValueError(
                f"federation.min_clients {self.min_clients}: secure aggregation needs at least "
                "2 parties a round (3 or more keep each update hidden from the other parties "
                "too); raise min_clients"
            )
        if self.min_clients * opts.quantization_range >= MODULUS_RANGE:
            raise ValueError(
                f"federation.secure_aggregation.quantization_range {opts.quantization_range} x "
                f"min_clients {self.min_clients} parties reaches 2^32, the masking modulus: the "
                "sum would wrap around; lower quantization_range"
            )


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
