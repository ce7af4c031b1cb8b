"""Race safety with real concurrent transactions (each thread its own database connection):
one fingerprint opened by two workers at once is one case; two handlers acting at once on one
case leave it consistent, and the loser is told."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from exceptions.models import Case, Occurrence
from exceptions.services import CaseChanged, case_acknowledge, case_resolve
from exceptions.services.following import cases_follow
from tests.exceptions.helpers import open_case

pytestmark = pytest.mark.django_db(transaction=True)


def _in_thread(function):
    """Run `function` on its own connection, closed afterwards."""

    def run(*args):
        try:
            return function(*args)
        finally:
            connection.close()

    return run


def test_two_workers_opening_one_fingerprint_at_once_make_one_case_counting_both(refuse):
    messages = [refuse(event_id=f"race-{n}") for n in range(8)]
    barrier = threading.Barrier(len(messages))

    @_in_thread
    def follow(rejected):
        barrier.wait()
        return cases_follow(rejected_ids=[rejected.pk])

    with ThreadPoolExecutor(len(messages)) as pool:
        results = list(pool.map(follow, messages))
    case = Case.objects.get()
    assert case.occurrences == 8 and Occurrence.objects.count() == 8
    assert sum(r.opened for r in results) == 1 and sum(r.folded for r in results) == 7
    assert list(case.entries.values_list("action", flat=True)) == ["opened"]


def test_a_handler_acting_while_another_holds_the_case_is_told_it_changed(refuse, handler, make_user):
    from controltower.accounts.roles import Role

    other = make_user("olga", Role.EXCEPTION_HANDLER)
    case = open_case(refuse)
    holding, release = threading.Event(), threading.Event()

    @_in_thread
    def first():
        with transaction.atomic():  # acknowledges, then keeps the transaction (and its lock) open
            case_acknowledge(case_id=case.pk, user=handler, version=1)
            holding.set()
            release.wait(timeout=30)

    @_in_thread
    def second():
        holding.wait(timeout=30)
        try:
            case_resolve(case_id=case.pk, user=other, reason_code="no_action_needed", version=1)
        except CaseChanged as error:
            return error
        return None

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(first)
        loser = pool.submit(second)
        holding.wait(timeout=30)
        with pytest.raises(TimeoutError):
            loser.result(timeout=1)  # it waits for the first handler's transaction ...
        release.set()
        held.result(timeout=30)
        error = loser.result(timeout=30)  # ... then finds the case moved on
    assert isinstance(error, CaseChanged) and "changed meanwhile (hanna: acknowledged)" in error.detail
    case.refresh_from_db()
    assert (case.state, case.version) == ("acknowledged", 2)
    assert list(case.entries.order_by("id").values_list("action", flat=True)) == ["opened", "acknowledged"]


def test_two_handlers_resolving_at_once_one_wins_and_the_other_is_told(refuse, handler, make_user):
    from controltower.accounts.roles import Role

    other = make_user("olga", Role.EXCEPTION_HANDLER)
    case = open_case(refuse)
    barrier = threading.Barrier(2)

    @_in_thread
    def resolve(user):
        barrier.wait()
        try:
            case_resolve(
                case_id=case.pk, user=user, reason_code="fixed_here", comment=user.username, version=1
            )
        except CaseChanged:
            return "told"
        return "won"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(resolve, [handler, other]))
    assert outcomes == ["told", "won"]
    case.refresh_from_db()
    assert (case.state, case.version) == ("resolved", 2)
    assert case.entries.filter(action="resolved").count() == 1
