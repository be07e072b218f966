"""config.yaml's `routing` section: agencies, units, the triage chat and the officer roster, checked against the
official area codes and the channels that carry officers."""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router import defaults  # plain data, shared with router/context.py


class _Section(BaseModel):
    # A typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


ROLES = ("petugas", "lurah", "camat", "agency_staff", "agency_head", "supervisor")
AREAS_CSV = Path(__file__).resolve().parents[1] / "nlp" / "data" / "jakarta" / "jakarta_wilayah_2025.csv"
_AREA = r"^31(\.\d{2}){1,2}(\.\d{4})?$"  # a kota, kecamatan or kelurahan code: 31.75, 31.75.03, 31.75.03.1001


class AgencySettings(_Section):
    name: str = Field(min_length=1)
    telegram_chat_id: str | None = None  # the agency's group chat, when it runs one


class UnitSettings(_Section):
    name: str = Field(min_length=1)
    telegram_chat_id: str | None = None  # the unit's group chat (e.g. a kelurahan's PPSU group)


class UtilitySettings(_Section):
    name: str = Field(min_length=1)  # as the citizen and the public trail read it, e.g. "PLN (listrik)"
    telegram_chat_id: str | None = None  # the utility's liaison group chat, where its cards go

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def _chat_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads a bare chat id as a number


class ReasonSettings(_Section):
    id: str = Field(min_length=1)  # Indonesian: what the public trail and the citizen read
    en: str | None = None  # English, for citizens who write in English (Indonesian when absent)


_CODE = r"^[a-z][a-z0-9_]{1,31}$"  # a utility's or a reason's code, as officers type it


class OfficerSettings(_Section):
    name: str = Field(min_length=1)
    # Who the officer is on each channel they work from, in order of preference: cards and reminders go to the
    # first one on a channel that is on. `telegram_id` is short for `identities: {telegram: ...}`, listed first.
    telegram_id: str | None = Field(None, pattern=r"^\d{1,20}$")
    identities: dict[str, str] = {}
    role: Literal[ROLES] = "petugas"  # type: ignore[valid-type]
    areas: list[str] = []
    agencies: list[str] = []

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads a bare id as a number

    @field_validator("identities", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        return {k: str(v) if isinstance(v, int) else v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("identities")
    @classmethod
    def _officer_channels(cls, identities: dict[str, str]) -> dict[str, str]:
        import bots

        for channel, user in identities.items():
            found = bots.BY_NAME.get(channel)
            if found is None or not found.offers("officers"):
                able = [c.name for c in bots.CHANNELS if c.offers("officers")]
                raise ValueError(f"{channel!r} is not a channel officers can work from (these are: {', '.join(able)})")
            if not user.strip():
                raise ValueError(f"the {channel} identity is empty")
        return identities

    @model_validator(mode="after")
    def _someone(self) -> "OfficerSettings":
        if not self.telegram_id and not self.identities:
            raise ValueError("an officer needs telegram_id or identities (who they are on a channel)")
        if self.telegram_id and self.identities.get("telegram", self.telegram_id) != self.telegram_id:
            raise ValueError("telegram_id and identities.telegram differ")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """(channel, user id) in order of preference."""
        first = [("telegram", self.telegram_id)] if self.telegram_id else []
        return first + [(c, u) for c, u in self.identities.items() if (c, u) not in first]

    @field_validator("areas")
    @classmethod
    def _codes(cls, areas: list[str]) -> list[str]:
        return [_area_code(a) for a in areas]


def _area_code(code: str) -> str:
    if not re.match(_AREA, code):
        raise ValueError(f"{code!r} is not a DKI Jakarta area code (31.75, 31.75.03 or 31.75.03.1001)")
    if code not in _known_area_codes():
        # A well-formed code that names no area would silently route nothing to that officer or unit.
        raise ValueError(f"{code!r} names no area in nlp/data/jakarta/jakarta_wilayah_2025.csv")
    return code


@lru_cache(maxsize=1)
def _known_area_codes() -> frozenset[str]:
    with open(AREAS_CSV, encoding="utf-8") as f:
        return frozenset(row["kode"] for row in csv.DictReader(f))


DEFAULT_AGENCIES = {code: AgencySettings(name=name) for code, name in defaults.AGENCIES.items()}
DEFAULT_UTILITIES = {code: UtilitySettings(name=name) for code, name in defaults.UTILITIES.items()}
DEFAULT_REASONS = {code: ReasonSettings(**labels) for code, labels in defaults.HANDOFF_REASONS.items()}


class RoutingSettings(_Section):
    agencies: dict[str, AgencySettings] = Field(default_factory=lambda: dict(DEFAULT_AGENCIES))
    categories: dict[str, str] = Field(default_factory=lambda: dict(defaults.CATEGORY_AGENCY))
    default_agency: str = defaults.DEFAULT_AGENCY
    units: dict[str, UnitSettings] = {}
    # The city-wide triage chat: it gets the card of a ticket no officer, unit or agency chat covers.
    triage_chat_id: str | None = None
    officers: list[OfficerSettings] = []
    # Utilities (PLN, PAM Jaya, Telkom...) a ticket can be handed to, and the reasons a handoff names.
    utilities: dict[str, UtilitySettings] = Field(default_factory=lambda: dict(DEFAULT_UTILITIES))
    handoff_reasons: dict[str, ReasonSettings] = Field(default_factory=lambda: dict(DEFAULT_REASONS), min_length=1)

    @field_validator("utilities", "handoff_reasons")
    @classmethod
    def _plain_codes(cls, found: dict[str, Any]) -> dict[str, Any]:
        bad = [code for code in found if not re.match(_CODE, code)]
        if bad:
            raise ValueError(f"codes must be lower-case words (a-z, 0-9, _), as officers type them: {', '.join(bad)}")
        return found

    @field_validator("triage_chat_id", mode="before")
    @classmethod
    def _chat_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads a bare chat id as a number

    @field_validator("units")
    @classmethod
    def _unit_codes(cls, units: dict[str, UnitSettings]) -> dict[str, UnitSettings]:
        return {_area_code(code): unit for code, unit in units.items()}

    @model_validator(mode="after")
    def _known_agencies(self) -> "RoutingSettings":
        named = [("default_agency", self.default_agency)]
        named += [(f"categories.{c}", a) for c, a in self.categories.items()]
        # An officer may work for a utility (its liaison): their cards are the tickets handed to it.
        unknown = [f"{where}: {agency!r}" for where, agency in named if agency not in self.agencies]
        unknown += [f"officers[{i}].agencies: {a!r}" for i, o in enumerate(self.officers) for a in o.agencies
                    if a not in self.agencies and a not in self.utilities]
        if unknown:
            raise ValueError(f"agencies not defined under routing.agencies: {', '.join(unknown)}")
        both = sorted(set(self.utilities) & set(self.agencies))
        if both:
            raise ValueError(f"codes both an agency and a utility (routing.utilities): {', '.join(both)}")
        ids = [pair for o in self.officers for pair in o.pairs()]
        twice = sorted({f"{c}:{u}" for c, u in ids if ids.count((c, u)) > 1})
        if twice:
            raise ValueError(f"an officer's identity appears twice in routing.officers: {', '.join(twice)}")
        return self
