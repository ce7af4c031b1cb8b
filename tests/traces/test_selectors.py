"""Reading traces: scope, lookup by identifier (as normalised or as sent), event order."""

from __future__ import annotations

import pytest

from controltower.accounts.access import Access, access_for
from controltower.accounts.roles import Role
from controltower.accounts.scope import NO_SCOPE
from controltower.traces.selectors import trace_events, trace_for_identifier, traces_search, traces_visible
from tests.traces.conftest import PO_A, PO_SOUTH

pytestmark = pytest.mark.django_db


def test_plant_scoped_user_sees_only_their_plants_traces(traces, make_user, plants):
    north = access_for(make_user("nina", Role.VIEWER, everything=False, plants=[plants["north"]]))
    south = access_for(make_user("sam", Role.VIEWER, everything=False, plants=[plants["south"]]))
    assert list(traces_visible(access=north)) == [traces[PO_A]]
    assert list(traces_visible(access=south)) == [traces[PO_SOUTH]]


def test_supplier_scoped_user_sees_their_suppliers_traces(traces, make_user, suppliers):
    bolt = access_for(make_user("bo", Role.VIEWER, everything=False, suppliers=[suppliers["bolt"]]))
    assert list(traces_visible(access=bolt)) == [traces[PO_SOUTH]]


def test_source_system_sees_traces_containing_its_events(traces, systems):
    portal = Access(
        authenticated=True, capabilities=frozenset(), scope=NO_SCOPE, system_id=systems["portal"].pk
    )
    mes = Access(authenticated=True, capabilities=frozenset(), scope=NO_SCOPE, system_id=systems["mes"].pk)
    assert list(traces_visible(access=portal)) == [traces[PO_A]]
    assert list(traces_visible(access=mes)) == []


def test_trace_is_found_by_normalised_and_by_raw_identifier(traces, viewer):
    access = access_for(viewer)
    assert trace_for_identifier(kind="purchase_order", value=PO_A, access=access) == traces[PO_A]
    assert trace_for_identifier(kind="purchase_order", value=f"PO-{PO_A}", access=access) == traces[PO_A]
    assert trace_for_identifier(kind="po_line", value=f"PO-{PO_A}/00010", access=access) == traces[PO_A]
    assert trace_for_identifier(kind="shipment", value="ASN-88123401", access=access) == traces[PO_A]
    assert trace_for_identifier(kind="purchase_order", value="4500000000", access=access) is None


def test_trace_lookup_respects_scope(traces, make_user, plants):
    south = access_for(make_user("sam", Role.VIEWER, everything=False, plants=[plants["south"]]))
    assert trace_for_identifier(kind="purchase_order", value=PO_A, access=south) is None
    assert trace_for_identifier(kind="purchase_order", value=PO_SOUTH, access=south) == traces[PO_SOUTH]


def test_trace_events_are_in_event_time_order_with_their_system(traces, django_assert_num_queries):
    with django_assert_num_queries(1):
        events = [(e.type, e.system.code) for e in trace_events(trace=traces[PO_A])]
    assert events == [
        ("supplier.confirmation", "PORTAL-ACME"),
        ("purchase_order.released", "ERP-CLOUD"),
        ("shipment.dispatched", "PORTAL-ACME"),
    ]


def _found(query: str, access) -> set[str]:
    return {trace.root.key for trace in traces_search(query=query, access=access)}


def test_search_finds_a_trace_by_any_spelling_the_identifier_rules_undo(traces, viewer):
    """The portal spells POs "PO-…" (a rule strips it); no event ever sent "po-4500099999", yet
    it names the ERP's PO 4500099999 as intake would have normalised it."""
    access = access_for(viewer)
    assert _found(f"po-{PO_SOUTH}", access) == {PO_SOUTH}
    assert _found(f"purchase_order:PO-{PO_SOUTH}", access) == {PO_SOUTH}


def test_a_bare_partial_number_lists_the_traces_whose_identifiers_start_with_it(traces, viewer):
    access = access_for(viewer)
    assert _found("4500012", access) == {PO_A}
    assert _found("45000", access) == {PO_A, PO_SOUTH}
    assert _found("PO-45000", access) == {PO_A, PO_SOUTH}  # a partial spelling, normalised
    assert _found("asn-8812", access) == {PO_A}  # the ASN, whatever the case
    assert _found("450", access) == set()  # too short to mean anything


def test_a_partial_number_lists_only_traces_in_scope(traces, make_user, plants):
    south = access_for(make_user("sam", Role.VIEWER, everything=False, plants=[plants["south"]]))
    assert _found("45000", south) == {PO_SOUTH}


def test_an_exact_match_wins_over_longer_keys_that_start_with_it(traces, viewer, systems):
    from tests.traces.conftest import cloudevent, example, ingest

    longer = f"{PO_A}9"
    ids = ingest(
        systems["erp"],
        cloudevent(
            "purchase_order.released",
            example("purchase_order.released", po_number=longer),
            source="ERP-CLOUD",
        ),
    )
    from controltower.traces.services import correlate_events

    correlate_events(event_ids=ids)
    access = access_for(viewer)
    assert _found(PO_A, access) == {PO_A}
    assert _found(PO_A[:-1], access) == {PO_A, longer}
