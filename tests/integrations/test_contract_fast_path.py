"""The compiled fast path never accepts what the full jsonschema validation refuses."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from integrations.contracts import contracts_all
from integrations.contracts.validation import fast_check_for, validator_for

BAD_VALUES: list[Any] = [
    None,
    "",
    " ",
    -1,
    0,
    1.5,
    "not-a-date",
    "2026-02-30",
    "2026-11-27T08:15",
    [],
    {},
    True,
]


def mutations(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, replacement) pair: each leaf or container swapped for each bad value, and
    each object key removed (None as a sentinel replacement below means 'remove')."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), "__remove__"
            yield from mutations(value, (*path, key))
        yield (*path, "unexpected_field"), "surprise"
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from mutations(value, (*path, index))
    for bad in BAD_VALUES:
        if path:
            yield path, bad


def mutated(example: dict, path: tuple, value: Any) -> dict:
    data = copy.deepcopy(example)
    target = data
    for step in path[:-1]:
        target = target[step]
    if value == "__remove__":
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize("contract", contracts_all(), ids=lambda c: f"{c.type}-v{c.version}")
def test_fast_path_agrees_with_jsonschema_on_every_mutation(contract):
    fast, full = fast_check_for(contract), validator_for(contract)
    checked = 0
    for path, value in mutations(contract.example):
        data = mutated(contract.example, path, value)
        if full.is_valid(data):
            continue
        with pytest.raises(Exception):  # noqa: B017 (any refusal sends it to the full validator)
            fast(data)
        checked += 1
    assert checked > 20
