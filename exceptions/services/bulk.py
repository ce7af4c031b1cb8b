"""One action on many cases: previewed, then run exactly on the previewed set.

`case_bulk_preview` freezes the selection — the cases a filter matches ("select all": every
matching case in the caller's scope, not one page) or the ids named — as `[id, version]` pairs
in a `CaseBulkJob`, and answers its count. `case_bulk_start` runs that job: small ones within
the request, large ones in Celery (`exceptions.bulk_run`), a chunk per transaction, announcing
`Kind.JOB_PROGRESS` after each. Each case goes through the same workflow service as a single
action (history, audit, announcement) with the version that was previewed, so a case changed
meanwhile is skipped and named, never acted on blindly; a case that newly matches the filter is
never touched. Chosen over "count again and refuse if it changed": with cases opening all the
time, a recount of a busy queue would refuse most large jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from controltower.audit.services import audit_record
from controltower.changes import Kind, announce
from controltower.queueing import enqueue, enqueue_after_commit
from exceptions.filters import CaseFilter
from exceptions.models import CaseBulkJob, Team
from exceptions.selectors import cases_visible
from exceptions.services.errors import CaseActionError
from exceptions.services.workflow import (
    IGNORE_REASONS,
    RESOLVE_REASONS,
    case_acknowledge,
    case_assign,
    case_comment,
    case_ignore,
    case_resolve,
    case_snooze,
)

logger = logging.getLogger(__name__)

#: Jobs of at most this many cases run within the request; larger ones in a worker.
INLINE_LIMIT = 50
#: Cases per transaction of a running job (and between progress announcements).
CHUNK = 100
#: How long one task works before it queues the rest (well inside Celery's soft time limit).
TASK_BUDGET_SECONDS = 20.0
#: A larger selection is refused: narrow the filter.
MAX_CASES = 50_000
#: A preview older than this is refused at start: look again.
PREVIEW_TTL = timedelta(minutes=30)
#: The skipped cases a job keeps by name (the rest are counted).
PROBLEMS_KEPT = 100
FILTER_FIELDS = frozenset(CaseFilter.base_filters)


class BulkInvalid(Exception):
    """The request names something wrong: `errors` maps each field (nested for the filter) to
    its messages, as an API's validation error does."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("; ".join(f"{field}: {problems}" for field, problems in errors.items()))
        self.errors = errors

    def messages(self) -> list[str]:
        """Plain lines for a page: `field: message`."""
        lines: list[str] = []
        for field, problems in self.errors.items():
            if isinstance(problems, Mapping):
                lines += [f"{field} {name}: {' '.join(map(str, items))}" for name, items in problems.items()]
            else:
                lines.append(f"{field}: {' '.join(map(str, problems))}")
        return lines


class BulkConflict(CaseActionError):
    """The job cannot start as asked (started already, preview expired, count differs)."""


def progress_id(job: CaseBulkJob | int) -> str:
    """The id a job's progress is announced under (distinct from other kinds of jobs)."""
    return f"case-bulk:{getattr(job, 'pk', job)}"


def _query_dict(data: Mapping) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in data.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            query.appendlist(str(name), "" if item is None else str(item))
    return query


def _selected(*, user, filter_data: Mapping | None, ids: list[int] | None) -> list[tuple[int, int]]:
    """[(id, version)] of the selection, in the queue's order (a filter) or as named (ids)."""
    if (filter_data is None) == (ids is None):
        raise BulkInvalid({"filter": ["Give either a filter (every matching case) or ids, not both."]})
    visible = cases_visible(access=access_for(user))
    if ids is not None:
        if not ids:
            raise BulkInvalid({"ids": ["Name at least one case."]})
        if len(ids) > MAX_CASES:
            raise BulkInvalid({"ids": [f"At most {MAX_CASES} cases at once."]})
        wanted = list(dict.fromkeys(int(pk) for pk in ids))
        found = dict(visible.filter(pk__in=wanted).values_list("pk", "version"))
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            shown = ", ".join(map(str, missing[:20]))
            raise BulkInvalid({"ids": [f"Not found, or outside your scope: {shown}."]})
        return [(pk, found[pk]) for pk in wanted]
    unknown = sorted(set(map(str, filter_data)) - FILTER_FIELDS - {"page", "cursor"})
    if unknown:
        raise BulkInvalid({"filter": {name: ["Not a filter of the queue."] for name in unknown}})
    filterset = CaseFilter(_query_dict(filter_data), queryset=visible, request=SimpleNamespace(user=user))
    if not filterset.is_valid():
        raise BulkInvalid({"filter": {name: list(problems) for name, problems in filterset.errors.items()}})
    rows = list(filterset.qs.values_list("pk", "version")[: MAX_CASES + 1])
    if len(rows) > MAX_CASES:
        raise BulkInvalid({"filter": [f"More than {MAX_CASES} cases match: narrow the filter."]})
    return rows


def bulk_params_clean(*, action: str, user, values: Mapping[str, Any]) -> dict[str, Any]:
    """The action's values, checked now so a job does not fail on every case later.
    `values`: assignee (a username, "me" or empty), team (a team's name or empty), until
    (a datetime or ISO text), reason_code, comment."""
    if action not in CaseBulkJob.Action.values:
        raise BulkInvalid({"action": [f"One of {', '.join(CaseBulkJob.Action.values)}."]})
    comment = str(values.get("comment") or "").strip()
    params: dict[str, Any] = {"comment": comment}
    if action == CaseBulkJob.Action.ASSIGN:
        who = str(values.get("assignee") or "")
        assignee = user if who == "me" else None
        if who and who != "me":
            assignee = get_user_model().objects.filter(username=who, is_active=True).first()
            if assignee is None:
                raise BulkInvalid({"assignee": [f"There is no user {who}."]})
        if assignee is not None and not access_for(assignee).can(Capability.WORK_EXCEPTIONS):
            raise BulkInvalid({"assignee": [f"{assignee} does not work exception cases."]})
        team_name = str(values.get("team") or "")
        team = Team.objects.filter(name=team_name).first() if team_name else None
        if team_name and team is None:
            raise BulkInvalid({"team": [f"There is no team {team_name}."]})
        params |= {
            "assignee": assignee.pk if assignee else None,
            "assignee_name": assignee.username if assignee else "",
            "team": team.pk if team else None,
            "team_name": team.name if team else "",
        }
    elif action == CaseBulkJob.Action.SNOOZE:
        until = values.get("until")
        until = parse_datetime(until) if isinstance(until, str) else until
        if not isinstance(until, datetime) or timezone.is_naive(until):
            raise BulkInvalid({"until": ["A date and time with its offset (ISO 8601)."]})
        if until <= timezone.now():
            raise BulkInvalid({"until": ["Snooze until a time in the future."]})
        params["until"] = until.isoformat()
    elif action in (CaseBulkJob.Action.RESOLVE, CaseBulkJob.Action.IGNORE):
        reasons = RESOLVE_REASONS if action == CaseBulkJob.Action.RESOLVE else IGNORE_REASONS
        reason_code = str(values.get("reason_code") or "")
        if reason_code not in reasons:
            raise BulkInvalid({"reason_code": [f"Choose a reason: {', '.join(reasons)}."]})
        if reason_code == "other" and not comment:
            raise BulkInvalid({"comment": ["Say why in the comment."]})
        params["reason_code"] = reason_code
    elif action == CaseBulkJob.Action.COMMENT and not comment:
        raise BulkInvalid({"comment": ["Write a comment."]})
    return params


def case_bulk_preview(
    *,
    user,
    action: str,
    values: Mapping[str, Any],
    filter_data: Mapping | None = None,
    ids: list[int] | None = None,
) -> CaseBulkJob:
    """Freeze the selection and the action's values as a previewed job; its `total` is the
    count to show before it runs. Raises `BulkInvalid` naming the failing field."""
    params = bulk_params_clean(action=action, user=user, values=values)
    rows = _selected(user=user, filter_data=filter_data, ids=ids)
    # What was asked, for the record (the cases themselves are in `cases`).
    selection = {"ids": len(rows)} if ids is not None else {"filter": dict(filter_data or {})}
    return CaseBulkJob.objects.create(
        action=action,
        params=params,
        selection=selection,
        cases=[[pk, version] for pk, version in rows],
        total=len(rows),
        created_by=user,
    )


def case_bulk_start(*, job: CaseBulkJob, user, expected_count: int | None = None) -> CaseBulkJob:
    """Run a previewed job on exactly its frozen set: within the request when small, else
    queued for a worker. Raises `BulkConflict` when it is not the caller's preview to start
    (started already, expired, or `expected_count` is not what the preview counted)."""
    with transaction.atomic():
        job = CaseBulkJob.objects.select_for_update().get(pk=job.pk)
        if job.created_by_id != user.pk:
            raise BulkConflict("Only who previewed a bulk action may start it.")
        if job.state != CaseBulkJob.State.PREVIEWED:
            raise BulkConflict(f"Bulk action {job.pk} is {job.get_state_display().lower()} already.")
        if timezone.now() - job.created_at > PREVIEW_TTL:
            raise BulkConflict(f"The preview of bulk action {job.pk} is too old: preview again.")
        if expected_count is not None and expected_count != job.total:
            raise BulkConflict(
                f"The preview counted {job.total} case(s), not {expected_count}: look at it again."
            )
        now = timezone.now()
        job.state, job.updated_at = CaseBulkJob.State.QUEUED, now
        job.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=user,
            action="case.bulk_start",
            obj=job,
            summary=f"Bulk {job.action} of {job.total} case(s)",
            reason=job.params.get("comment", ""),
            details={"selection": job.selection, "params": job.params, "cases": job.total},
        )
        announce(Kind.JOB_PROGRESS, progress_id(job))
        if job.total > INLINE_LIMIT:
            from exceptions.tasks import bulk_run

            enqueue_after_commit(bulk_run, queue="rules", job_id=job.pk)
    if job.total <= INLINE_LIMIT:
        case_bulk_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _apply(job: CaseBulkJob, case_id: int, version: int, user) -> None:
    """Do the job's action to one case, as a single action would (history, audit, announce)."""
    params, action = job.params, job.action
    comment = params.get("comment", "")
    if action == CaseBulkJob.Action.ACKNOWLEDGE:
        case_acknowledge(case_id=case_id, user=user, version=version)
    elif action == CaseBulkJob.Action.ASSIGN:
        assignee = (
            get_user_model().objects.filter(pk=params["assignee"]).first() if params["assignee"] else None
        )
        team = Team.objects.filter(pk=params["team"]).first() if params["team"] else None
        case_assign(
            case_id=case_id, user=user, assignee=assignee, team=team, version=version, comment=comment
        )
    elif action == CaseBulkJob.Action.SNOOZE:
        until = datetime.fromisoformat(params["until"])
        case_snooze(case_id=case_id, user=user, until=until, version=version, comment=comment)
    elif action == CaseBulkJob.Action.RESOLVE:
        case_resolve(
            case_id=case_id, user=user, reason_code=params["reason_code"], comment=comment, version=version
        )
    elif action == CaseBulkJob.Action.IGNORE:
        case_ignore(
            case_id=case_id, user=user, reason_code=params["reason_code"], comment=comment, version=version
        )
    else:
        case_comment(case_id=case_id, user=user, comment=comment)


def _run_chunk(*, job_id: int, chunk: int) -> bool:
    """Work the next `chunk` cases in one transaction; True while some are left.
    The job row stays locked meanwhile, so two runners never work the same cases."""
    with transaction.atomic():
        job = (
            CaseBulkJob.objects.select_for_update(of=("self",))
            .select_related("created_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.state not in (CaseBulkJob.State.QUEUED, CaseBulkJob.State.RUNNING):
            return False
        now = timezone.now()
        if job.state == CaseBulkJob.State.QUEUED:
            job.state, job.started_at = CaseBulkJob.State.RUNNING, now
        user = job.created_by
        access = access_for(user)
        if not user.is_active or not access.can(Capability.WORK_EXCEPTIONS):
            job.state, job.finished_at = CaseBulkJob.State.FAILED, now
            job.error = f"{user} may no longer work exception cases."
        else:
            batch = job.cases[job.position : job.position + chunk]
            in_scope = set(
                cases_visible(access=access)
                .filter(pk__in=[pk for pk, _ in batch])
                .values_list("pk", flat=True)
            )
            for case_id, version in batch:
                try:
                    if case_id not in in_scope:
                        raise CaseActionError(f"Case {case_id} is gone or outside your scope now.")
                    _apply(job, case_id, version, user)
                except CaseActionError as refused:
                    job.skipped += 1
                    if len(job.problems) < PROBLEMS_KEPT:
                        job.problems.append({"case": case_id, "detail": refused.detail})
                else:
                    job.succeeded += 1
            job.position += len(batch)
            if job.position >= job.total:
                job.state, job.finished_at = CaseBulkJob.State.DONE, timezone.now()
        job.updated_at = timezone.now()
        job.save()
        announce(Kind.JOB_PROGRESS, progress_id(job))
        return job.state == CaseBulkJob.State.RUNNING


def case_bulk_run(*, job_id: int, chunk: int | None = None, budget_seconds: float | None = None) -> bool:
    """Work a started job `chunk` cases at a time (default `CHUNK`), for at most
    `budget_seconds` (None: to its end). Returns True when cases are left (the caller queues
    the rest). Idempotent: a redelivered task continues from the last committed chunk."""
    chunk = chunk or CHUNK
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    while _run_chunk(job_id=job_id, chunk=chunk):
        if deadline is not None and time.monotonic() >= deadline:
            return True
    return False


def case_bulk_sweep(*, stale_after: timedelta = timedelta(minutes=2)) -> int:
    """Queue again the jobs whose task was lost (broker down at start, a worker killed):
    queued or running, untouched for `stale_after`. Returns how many."""
    from exceptions.tasks import bulk_run

    cutoff = timezone.now() - stale_after
    stale = CaseBulkJob.objects.filter(
        state__in=(CaseBulkJob.State.QUEUED, CaseBulkJob.State.RUNNING), updated_at__lt=cutoff
    ).values_list("pk", flat=True)
    ids = list(stale[:100])
    for job_id in ids:
        enqueue(bulk_run, queue="rules", job_id=job_id)
    return len(ids)
