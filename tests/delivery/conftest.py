"""Builders for delivery tests: targets and subscriptions on the test network."""

from __future__ import annotations

import pytest

from integrations.delivery.models import Subscription, Target


@pytest.fixture
def make_target(db):
    def make(code: str = "erp-post", url: str = "http://127.0.0.1:9/unused/", **fields) -> Target:
        fields = {"backoff_seconds": 0.2, "backoff_max_seconds": 1.0, "timeout_seconds": 5.0, **fields}
        return Target.objects.create(code=code, name=code.upper(), url=url, **fields)

    return make


@pytest.fixture
def subscribe(db):
    def make(target: Target, *types: str, plants=(), suppliers=(), **fields) -> Subscription:
        sub = Subscription.objects.create(
            name=f"{','.join(types)} to {target.code}", target=target, event_types=list(types), **fields
        )
        sub.plants.set(plants)
        sub.suppliers.set(suppliers)
        return sub

    return make
