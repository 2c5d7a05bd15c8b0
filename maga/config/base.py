"""What every configuration section shares: strict models, gate thresholds that can
be advisory, the error a bad profile raises, and the project's folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # maga/config/base.py -> the checkout
CONFIG_DIR = PROJECT_ROOT / "configs"


class ConfigError(ValueError):
    """A profile or override that cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


RECORDED = {"recorded": True}  # validation context of a run's recorded config


class _Thresholds(_Strict):
    """Gate thresholds. A profile whose models are too small for a check lists it in
    ``advisory`` with the limit real models must meet (the ``gpu`` profile's): the check
    is then shown as advisory against that limit and never stops a run. A blocking
    threshold no value can cross (a share limit of 1, a minimum of 0) is rejected: it
    would show a green pass that means nothing."""

    _SECTION: ClassVar[str] = ""
    # field -> (the bound that makes it vacuous, "<=" for a maximum, ">=" for a minimum)
    _VACUOUS: ClassVar[dict[str, tuple[float, str]]] = {}
    advisory: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _crossable(self, info: ValidationInfo) -> _Thresholds:
        if (info.context or {}).get("recorded"):
            return self  # a run's recorded config.json: read back as it ran
        for name, limit in self.advisory.items():
            if name not in self._VACUOUS:
                raise ValueError(f"{self._SECTION}.advisory.{name}: not a threshold that "
                                 f"can be advisory (one of: {', '.join(self._VACUOUS)})")  # fmt: skip
            if self._never_fails(name, limit):
                raise ValueError(f"{self._SECTION}.advisory.{name}={limit} can never fail; "
                                 "give the limit real models must meet")  # fmt: skip
        for name in self._VACUOUS:
            value = getattr(self, name)
            if name not in self.advisory and self._never_fails(name, value):
                raise ValueError(
                    f"{self._SECTION}.{name}={value} can never fail, so the check would "
                    f"always pass: set a limit a value can cross, or make the check advisory "
                    f"with {self._SECTION}.advisory.{name}: <the limit real models meet>"
                )
        return self

    def _never_fails(self, name: str, value: float) -> bool:
        bound, op = self._VACUOUS[name]
        return value >= bound if op == "<=" else value <= bound

    def limit(self, name: str) -> tuple[float, bool]:
        """The limit a check compares with, and whether it is advisory."""
        if name in self.advisory:
            return self.advisory[name], True
        return getattr(self, name), False
