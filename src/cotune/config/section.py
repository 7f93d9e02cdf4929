"""The base of every config section: the rules each YAML key obeys, written once.

Every section module (run, privacy, tracking, continual, augment, pre-training, distillation, the
applications') subclasses `Section`, so a new one cannot forget a rule.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(
        # an unknown key is an error that names it
        extra="forbid",
        validate_assignment=True,
        # YAML reads .inf as a float that passes every gt/ge bound (lr: .inf, epochs: .inf)
        allow_inf_nan=False,
        # `name: 2024` or `--name 2024` is a name, though YAML reads it as a number
        coerce_numbers_to_str=True,
    )
