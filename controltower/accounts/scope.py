"""A user's plant/supplier scope, and the one place querysets are filtered by it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet


@dataclass(frozen=True)
class Scope:
    """Which plants and suppliers someone may see.

    A record is visible when its plant is in `plant_ids` OR its supplier is in `supplier_ids`
    (a supplier-scoped user sees every plant's orders with that supplier). `everything` lifts
    the filter. The empty scope sees nothing: a user nobody has scoped yet is shown no data.
    """

    everything: bool = False
    plant_ids: frozenset[int] = field(default_factory=frozenset)
    supplier_ids: frozenset[int] = field(default_factory=frozenset)

    def filter(
        self, queryset: QuerySet, *, plant_field: str | None = None, supplier_field: str | None = None
    ) -> QuerySet:
        """`queryset` narrowed to this scope, given the lookups naming its plant and supplier."""
        if plant_field is None and supplier_field is None:
            raise ValueError("Name at least one of plant_field and supplier_field.")
        if self.everything:
            return queryset
        condition = Q(pk__in=[])
        if plant_field is not None and self.plant_ids:
            condition |= Q(**{f"{plant_field}__in": self.plant_ids})
        if supplier_field is not None and self.supplier_ids:
            condition |= Q(**{f"{supplier_field}__in": self.supplier_ids})
        return queryset.filter(condition)

    def allows(self, *, plant_id: int | None = None, supplier_id: int | None = None) -> bool:
        """Whether one record, belonging to this plant and/or supplier, is visible."""
        if self.everything:
            return True
        return (plant_id is not None and plant_id in self.plant_ids) or (
            supplier_id is not None and supplier_id in self.supplier_ids
        )

    @property
    def group_names(self) -> list[str]:
        """Channel-layer groups whose live updates this scope may receive."""
        if self.everything:
            return ["scope.all"]
        return [f"scope.plant.{pk}" for pk in sorted(self.plant_ids)] + [
            f"scope.supplier.{pk}" for pk in sorted(self.supplier_ids)
        ]


NO_SCOPE = Scope()
FULL_SCOPE = Scope(everything=True)
