"""Transport faults injected into a finished flow: out-of-order, duplicate and malformed messages.

Business faults (missing / late confirmations, quantity mismatches, delays) are decided inside
the flow generators, where the business consequences are known; these three only change how a
message travels, so they apply to any flow.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

from integrations.contracts import contract_get

from .model import Flow, FlowContext, Step

_QUANTITY_KEYS = ("quantity", "yield_quantity")


def inject(ctx: FlowContext, flow: Flow) -> Flow:
    """Apply the transport faults of `ctx.faults` to `flow` (each at most once), in due order.

    Guarantees: a malformed message is never also the one duplicated; with `malformed` = 1 every
    flow carries exactly one invalid message (broken JSON or a contract violation).
    """
    flow.ordered()
    faults = ctx.faults
    if ctx.chance(faults.out_of_order):
        _out_of_order(ctx, flow)
    candidates = [i for i, step in enumerate(flow.steps) if step.kind == "cloudevent"]
    broken = ctx.rng.choice(candidates) if candidates and ctx.chance(faults.malformed) else None
    if ctx.chance(faults.duplicates):
        others = [i for i in candidates if i != broken]
        if others:
            original = flow.steps[ctx.rng.choice(others)]
            flow.steps.append(
                replace(
                    original, due=original.due + ctx.rng.uniform(5, 600), note=original.note + " [sent twice]"
                )
            )
            flow.faults.append(f"duplicate: {original.type}")
    if broken is not None:
        type_ = flow.steps[broken].type
        flow.steps[broken], how = _malformed(ctx, flow.steps[broken])
        flow.faults.append(f"malformed: {type_}, {how}")
    return flow.ordered()


def _out_of_order(ctx: FlowContext, flow: Flow) -> None:
    """Hold one message back until just after the message that followed it.

    Its business time stays when it happened (as when a queue redelivers late), so the tower
    sees an older event arrive after a newer one.
    """
    pairs = [i for i in range(1, len(flow.steps)) if flow.steps[i].due > flow.steps[i - 1].due]
    if not pairs:
        return
    i = ctx.rng.choice(pairs)
    held, overtaking = flow.steps[i - 1], flow.steps[i]
    flow.steps[i - 1] = replace(
        held, due=overtaking.due + ctx.rng.uniform(1, 90), note=held.note + " [arrives out of order]"
    )
    flow.faults.append(f"out-of-order: {held.type} after {overtaking.type}")


def _malformed(ctx: FlowContext, step: Step) -> tuple[Step, str]:
    """The step's message broken (JSON that does not parse, a negative quantity, a missing
    required field), and how."""
    event: dict[str, Any] = copy.deepcopy(step.payload)  # type: ignore[arg-type]
    how = ctx.rng.choice(["json", "quantity", "required"])
    if how == "quantity" and _negate_quantity(event["data"]):
        return _noted(replace(step, payload=event), "negative quantity")
    if how in ("quantity", "required"):
        required = contract_get(event["type"]).schema.get("required", [])  # type: ignore[union-attr]
        name = ctx.rng.choice(required)
        event["data"].pop(name, None)
        return _noted(replace(step, payload=event), f"{name} missing")
    text = json.dumps(event, ensure_ascii=False)
    damage = ctx.rng.choice(["truncated", "trailing comma", "single quotes"])
    if damage == "truncated":  # the connection dropped mid-message
        text = text[: ctx.rng.randint(len(text) // 3, len(text) - 2)]
    elif damage == "trailing comma":
        text = text[:-1] + ",}"
    else:
        text = text.replace('"', "'", 6)
    return _noted(replace(step, kind="raw", payload=text.encode()), f"broken JSON ({damage})")


def _noted(step: Step, how: str) -> tuple[Step, str]:
    return replace(step, note=f"{step.note} [malformed: {how}]"), how


def _negate_quantity(data: dict[str, Any]) -> bool:
    """Make the first quantity in `data` (top level or first line) negative; False when there is none."""
    for holder in [data, *(data.get("lines") or [])]:
        for key in _QUANTITY_KEYS:
            if isinstance(holder, dict) and isinstance(holder.get(key), int | float) and holder[key] > 0:
                holder[key] = -holder[key]
                return True
    return False
