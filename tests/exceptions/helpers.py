"""A case to work on, made the way the tower makes them."""

from __future__ import annotations

from exceptions.models import Case
from exceptions.services.following import cases_follow


def open_case(refuse, **kwargs) -> Case:
    rejected = refuse(**kwargs)
    cases_follow(rejected_ids=[rejected.pk])
    return Case.objects.get(occurrence_rows__ref_id=rejected.pk, occurrence_rows__source="rejected")
