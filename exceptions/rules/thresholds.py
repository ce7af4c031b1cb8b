"""Rule thresholds: the admin's `RuleThreshold` rows over the defaults below.

Loaded once per batch (a small configuration table). For a plant, supplier and material the
most specific row wins: a row naming the material beats one that does not, then one naming
more of plant and supplier; unnamed parts match everything, named ones must match.
"""

from __future__ import annotations

from dataclasses import dataclass

from exceptions.models import RuleThreshold

Rule = RuleThreshold.Rule

#: Defaults, in each rule's unit.
DEFAULTS: dict[str, float] = {
    Rule.ASN_QUANTITY: 2.0,  # % an ASN may differ from what the PO line ordered (or was confirmed)
    Rule.RECEIPT_QUANTITY: 1.0,  # % a receipt may differ from its ASN
    Rule.DATE_CONFLICT: 0.0,  # days a confirmed date may pass the need date
    Rule.PRODUCTION_AT_RISK: 60.0,  # minutes the material must be there before the order starts
    Rule.RECONCILIATION: 15.0,  # minutes a WMS receipt may wait for its ERP posting (and back)
    Rule.SOURCE_SILENT: 10.0,  # times the system's usual gap between messages
}


@dataclass(frozen=True)
class Threshold:
    value: float
    enabled: bool = True


class Thresholds:
    """The thresholds in force for one batch."""

    def __init__(self, rows: list[RuleThreshold]) -> None:
        self._rows: dict[str, list[RuleThreshold]] = {}
        for row in rows:
            self._rows.setdefault(row.rule, []).append(row)

    @classmethod
    def load(cls) -> Thresholds:
        return cls(list(RuleThreshold.objects.all()))

    def of(
        self, rule: str, *, plant_id: int | None = None, supplier_id: int | None = None, material: str = ""
    ) -> Threshold:
        best, best_rank = None, (-1, -1)
        for row in self._rows.get(rule, ()):
            if row.plant_id is not None and row.plant_id != plant_id:
                continue
            if row.supplier_id is not None and row.supplier_id != supplier_id:
                continue
            if row.material and row.material != material:
                continue
            rank = (bool(row.material), (row.plant_id is not None) + (row.supplier_id is not None))
            if rank > best_rank:
                best, best_rank = row, rank
        if best is None:
            return Threshold(DEFAULTS[rule])
        return Threshold(float(best.value), best.enabled)
