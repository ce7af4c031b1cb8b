"""Cases from refused messages and dead letters: grouping, reopening, self-resolution, sweep."""

from __future__ import annotations

import pytest

from controltower.audit.models import AuditEntry
from exceptions.models import Case, CaseEntry, Occurrence
from exceptions.services import case_ignore, case_resolve
from exceptions.services.following import cases_follow, cases_sweep
from integrations.delivery.models import Resubmission
from integrations.delivery.services.resubmission import rejected_resubmit, resubmission_run
from tests.exceptions.conftest import deliver_again
from tests.factories import po_released

pytestmark = pytest.mark.django_db


def test_a_refused_message_opens_a_validation_case_with_its_errors_as_evidence(refuse, plants):
    rejected = refuse(event_id="bad-1")
    followed = cases_follow(rejected_ids=[rejected.pk])
    case = Case.objects.get()
    assert followed.opened == 1
    assert (case.kind, case.state, case.occurrences) == ("validation", "open", 1)
    assert case.plant == plants["north"] and case.system.code == "MES-NORTH"
    assert case.error_class == "validation-error:/data/lines/*/quantity"
    assert case.evidence["errors"] == rejected.errors and case.evidence["event_id"] == "bad-1"
    assert "MES-NORTH sent a purchase_order.released message (event bad-1) that we refused" in case.summary
    assert "lines/0/quantity" in case.summary
    assert case.sla_due_at is not None
    [entry] = case.entries.all()
    assert (entry.action, entry.actor, entry.actor_name) == ("opened", None, "control tower")
    assert AuditEntry.objects.filter(action="case.opened", object_id=str(case.pk)).exists()


def test_the_same_mistake_folds_into_one_case_with_a_count_and_first_and_last_seen(refuse):
    first, second, third = refuse(event_id="a"), refuse(event_id="b"), refuse(event_id="c")
    cases_follow(rejected_ids=[first.pk])
    cases_follow(rejected_ids=[second.pk, third.pk])
    cases_follow(rejected_ids=[first.pk, second.pk])  # seen again: nothing more
    case = Case.objects.get()
    assert case.occurrences == 3 and case.occurrence_rows.count() == 3
    assert (case.first_seen_at, case.last_seen_at) == (first.received_at, third.received_at)
    assert "(event c)" in case.summary  # the newest occurrence describes it
    assert list(case.entries.values_list("action", flat=True)) == ["opened"]  # folds write no history


def test_another_field_another_plant_or_another_kind_is_another_case(client, network, refuse):
    from tests.factories import post_events

    cases_follow(rejected_ids=[refuse(event_id="q").pk])
    cases_follow(rejected_ids=[refuse(event_id="p", po="x" * 300).pk])  # another field also wrong
    foreign = po_released(event_id="f", source="SOMEONE-ELSE")
    post_events(client, network["mes_north"], foreign)
    from integrations.models import RejectedMessage

    cases_follow(rejected_ids=[RejectedMessage.objects.order_by("-id").first().pk])
    kinds = sorted(Case.objects.values_list("kind", flat=True))
    assert kinds == ["foreign_source", "validation", "validation"]
    assert Case.objects.get(kind="foreign_source").severity == Case.Severity.HIGH


def test_a_resolved_case_reopens_when_it_recurs_and_says_so(refuse, handler):
    cases_follow(rejected_ids=[refuse(event_id="a").pk])
    case = Case.objects.get()
    case_resolve(case_id=case.pk, user=handler, reason_code="fixed_at_source", comment="sender patched")
    cases_follow(rejected_ids=[refuse(event_id="b").pk])
    case.refresh_from_db()
    assert (case.state, case.occurrences, case.reason_code, case.closed_at) == ("open", 2, "", None)
    reopened = case.entries.first()
    assert reopened.action == "reopened" and reopened.actor is None
    assert reopened.before["state"] == "resolved" and reopened.after["state"] == "open"
    assert reopened.comment.startswith("It happened again: ")


def test_an_ignored_case_keeps_counting_but_stays_ignored(refuse, handler):
    cases_follow(rejected_ids=[refuse(event_id="a").pk])
    case = Case.objects.get()
    case_ignore(case_id=case.pk, user=handler, reason_code="test_data")
    cases_follow(rejected_ids=[refuse(event_id="b").pk])
    case.refresh_from_db()
    assert (case.state, case.occurrences) == ("ignored", 2)


def test_a_target_storm_is_one_case_per_plant_not_one_per_delivery(dead_letter, plants):
    deliveries = [dead_letter(f"45000000{n:02d}") for n in range(6)]
    deliveries.append(dead_letter("4500009999", plant="P-SOUTH"))
    cases_follow(delivery_ids=[d.pk for d in deliveries])
    north, south = Case.objects.get(plant=plants["north"]), Case.objects.get(plant=plants["south"])
    assert (north.kind, north.occurrences, north.target.code, north.error_class) == (
        "dead_letter",
        6,
        "erp-post",
        "http_5xx",
    )
    assert south.occurrences == 1 and north.supplier is None  # scoped by plant only
    assert "erp-post failed with server errors (5xx)" in north.summary


def test_a_dead_letter_delivered_by_a_retry_resolves_its_case_itself(dead_letter, stub_target):
    first, second = dead_letter("4500000001"), dead_letter("4500000002")
    cases_follow(delivery_ids=[first.pk, second.pk])
    case = Case.objects.get()
    deliver_again(first, stub_target)
    cases_follow(delivery_ids=[first.pk])
    case.refresh_from_db()
    assert case.state == "open"  # one of its deliveries still failed
    deliver_again(second, stub_target)
    cases_follow(delivery_ids=[second.pk])
    case.refresh_from_db()
    assert (case.state, case.reason_code) == ("resolved", "cause_gone")
    entry = case.entries.first()
    assert entry.action == CaseEntry.Action.SELF_RESOLVED and "was delivered since" in entry.comment
    assert AuditEntry.objects.filter(action="case.self_resolved", object_id=str(case.pk)).exists()


def test_a_dead_letter_again_after_delivery_reopens_the_case(dead_letter, stub_target, client, network):
    from integrations.delivery.models import Delivery
    from integrations.delivery.services.delivering import delivery_attempt

    delivery = dead_letter()
    cases_follow(delivery_ids=[delivery.pk])
    deliver_again(delivery, stub_target)
    cases_follow(delivery_ids=[delivery.pk])
    stub_target.status = 503
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0)
    assert delivery_attempt(delivery_id=delivery.pk) == "dead_lettered"
    cases_follow(delivery_ids=[delivery.pk])
    case = Case.objects.get()
    assert (case.state, case.occurrences) == ("open", 2)
    assert [e.action for e in case.entries.all()][:2] == ["reopened", "self_resolved"]


def test_a_refused_message_resubmitted_and_accepted_resolves_its_case_itself(refuse, handler):
    rejected = refuse(event_id="fix-me")
    cases_follow(rejected_ids=[rejected.pk])
    fixed = po_released(event_id="fix-me", source="MES-NORTH")
    import json

    resubmission = rejected_resubmit(
        rejected=rejected, body=json.dumps(fixed), reason="quantity", user=handler
    )
    assert resubmission_run(resubmission_id=resubmission.pk) == Resubmission.State.ACCEPTED
    cases_follow(rejected_ids=[rejected.pk])
    case = Case.objects.get()
    assert (case.state, case.reason_code) == ("resolved", "cause_gone")
    assert case.entries.first().comment.startswith("The refused message was fixed")
    assert Occurrence.objects.get().cleared_at is not None


def test_a_message_resubmitted_and_refused_again_keeps_the_case_open_and_counts(refuse, handler):
    import json

    rejected = refuse(event_id="still-bad")
    cases_follow(rejected_ids=[rejected.pk])
    resubmission = rejected_resubmit(
        rejected=rejected, body=json.dumps(rejected_body(rejected)), reason="try", user=handler
    )
    assert resubmission_run(resubmission_id=resubmission.pk) == Resubmission.State.REJECTED
    resubmission.refresh_from_db()
    cases_follow(rejected_ids=[rejected.pk, resubmission.rejected_again_id])
    case = Case.objects.get()
    assert (case.state, case.occurrences) == ("open", 2)


def rejected_body(rejected) -> dict:
    import json

    return json.loads(rejected.body_text)


def test_the_sweep_opens_what_the_change_path_missed_and_is_idempotent(refuse, dead_letter, stub_target):
    rejected, delivery = refuse(event_id="missed"), dead_letter()
    first = cases_sweep()
    assert (first.opened, Case.objects.count()) == (2, 2)
    again = cases_sweep()
    assert (again.opened, again.folded, again.resolved) == (0, 0, 0)
    deliver_again(delivery, stub_target)
    assert cases_sweep().resolved == 1  # the delivered dead letter's case, found by the sweep
    assert Case.objects.get(kind="dead_letter").state == "resolved"
    assert Case.objects.get(kind="validation").occurrence_rows.get().ref_id == rejected.pk
