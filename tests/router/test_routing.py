"""Routing as data: category → agency, who may act on a ticket, who is told first, unit chats."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hub.settings import RoutingSettings
from router import context, routing
from router.context import RouterConfig


@dataclass
class Off:
    role: str
    areas: list[str] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)


@dataclass
class T:
    agency: str | None
    kelurahan_kode: str | None = "31.75.03.1002"  # Cipinang Muara
    kecamatan_kode: str | None = "31.75.03"  # Jatinegara
    kab_kota_kode: str | None = "31.75"  # Jakarta Timur


@pytest.fixture(autouse=True)
def _routing() -> None:
    cfg = RoutingSettings.model_validate({
        "units": {"31.75.03": {"name": "Kec. Jatinegara", "telegram_chat_id": "-100300"}},
        "agencies": {**{k: v.model_dump() for k, v in RoutingSettings().agencies.items()},
                     "dsda": {"name": "Dinas Sumber Daya Air", "telegram_chat_id": "-100900"}},
    })
    context._config = RouterConfig(routing=cfg.model_dump(mode="json", exclude={"officers"}))


def test_categories_go_to_their_agency_and_unlisted_ones_to_the_default() -> None:
    assert routing.agency_for("flood") == "dsda" and routing.agency_for("drainage") == "dsda"
    assert routing.agency_for("jockey_3in1") == "satpolpp"
    assert routing.agency_for("something_a_city_added") == "kelurahan"
    assert routing.agency_for("not_report") is None and routing.agency_for(None) is None
    assert routing.agency_name("dlh") == "Dinas Lingkungan Hidup"


def test_who_may_act() -> None:
    flood = T("dsda")
    assert routing.may_act(Off("lurah", areas=["31.75.03.1002"]), flood)  # any category in the kelurahan
    assert routing.may_act(Off("camat", areas=["31.75.03"]), flood)
    assert not routing.may_act(Off("lurah", areas=["31.75.03.1001"]), flood)  # the next kelurahan
    assert not routing.may_act(Off("lurah", areas=["31.75.0"]), flood)  # a prefix of digits is not an area
    assert routing.may_act(Off("agency_head", agencies=["dsda"]), flood)  # the whole city
    assert not routing.may_act(Off("agency_head", agencies=["dlh"]), flood)
    assert routing.may_act(Off("petugas", areas=["31.75"], agencies=["dsda"]), flood)
    assert not routing.may_act(Off("petugas", areas=["31.75"], agencies=["dlh"]), flood)  # both must hold
    assert not routing.may_act(Off("petugas"), flood)  # no scope: nothing
    assert routing.may_act(Off("supervisor"), flood)


def test_field_officers_are_told_first_then_the_escalation_chain() -> None:
    lurah, camat, head = Off("lurah", ["31.75.03.1002"]), Off("camat", ["31.75.03"]), Off("agency_head", [], ["dsda"])
    crew = Off("petugas", ["31.75.03.1002"], ["dsda"])
    other_crew = Off("petugas", ["31.74"], ["dsda"])
    assert routing.responders([lurah, camat, head, crew, other_crew], T("dsda")) == [crew]
    assert routing.responders([camat, head, lurah], T("dsda")) == [lurah]
    assert routing.responders([head, camat], T("dsda")) == [camat]
    assert routing.responders([head, Off("supervisor")], T("dsda")) == [head]
    assert routing.escalation_targets([lurah, camat, head], T("dsda"), 1) == [camat]
    assert routing.escalation_targets([lurah, camat, head], T("dsda"), 3) == []


def test_the_most_specific_unit_chat_then_the_agency_chat() -> None:
    assert routing.unit_chat(T("dlh")) == "-100300"  # the kecamatan's group
    assert routing.unit_chat(T("dsda", kelurahan_kode=None, kecamatan_kode="31.74.01", kab_kota_kode="31.74")) == "-100900"
    assert routing.unit_chat(T("dlh", kelurahan_kode=None, kecamatan_kode=None, kab_kota_kode=None)) is None
