"""What we can store of a JSON value (intake and every API): the fast path never misses what the full walk finds."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from controltower.json_values import (
    DEPTH,
    FULL,
    MAX_DEPTH,
    NONE,
    TOO_DEEP_DETAIL,
    array_element_spans,
    json_decode,
    json_encode_checked,
    printable,
    printable_json,
    unsafe_values,
)

_text = st.lists(
    st.one_of(st.text(max_size=4), st.sampled_from(["\x00", "\ud800", "\udfff", "😀", "\\u0000"])), max_size=3
).map("".join)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _text)


def _nested(depth: int, leaf) -> list | dict:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


_values = st.one_of(
    st.recursive(
        _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)
    ),
    st.builds(_nested, st.integers(min_value=0, max_value=MAX_DEPTH + 3), _scalars),
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_the_checks_the_encoding_asks_for_find_all_the_full_walk_finds(value):
    _, checks = json_encode_checked(value, depth=2)
    assert unsafe_values(value, pointer="/data", depth=2, checks=checks) == unsafe_values(
        value, pointer="/data", depth=2
    )


@settings(max_examples=200, deadline=None)
@given(_values)
def test_printable_json_can_always_be_stored_and_answered(value):
    text = json.dumps(printable_json(value), ensure_ascii=False, allow_nan=False)
    assert "\x00" not in text and "\\u0000" not in text.replace("\\\\", "")
    text.encode("utf-8")  # no lone surrogate left


def test_a_plain_event_needs_no_walk_and_nesting_alone_needs_the_container_walk():
    assert json_encode_checked({"po": "4500", "lines": [{"qty": 1.5}]}, depth=2)[1] == NONE
    assert json_encode_checked([[1]] * 40, depth=2)[1] == DEPTH
    assert json_encode_checked({"x": float("nan")}, depth=2) == (None, FULL)
    assert json_encode_checked({"x": "PO\x00X"}, depth=2)[1] == FULL


def test_nesting_the_parser_cannot_read_is_marked_and_named_by_pointer():
    value = json_decode('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}")
    [found] = unsafe_values(value)
    assert found.detail == TOO_DEEP_DETAIL
    assert found.pointer == "/a" + "/0" * (MAX_DEPTH - 1)  # the first container past level 32


def test_printable_writes_nul_and_lone_surrogates_as_their_escapes():
    assert printable("PO\x00X\ud800😀") == "PO\\u0000X\\ud800😀"


def test_array_element_spans_find_each_element_as_it_arrived_even_one_too_deep_to_parse():
    deep = "[" * 5_000 + "]" * 5_000
    text = f' [ {{"a": "]}}[,"}} ,\n1e400, {deep},"\\u0000"] '
    spans = array_element_spans(text)
    assert [text[start:end] for start, end in spans] == ['{"a": "]}[,"}', "1e400", deep, '"\\u0000"']
    assert array_element_spans("[]") == []
    for not_an_array in ('{"a": 1}', "[1, 2", "[1 2]", '["open]'):
        assert array_element_spans(not_an_array) is None
