"""Units of measure, normalised so quantities from different senders compare.

Senders write the same unit differently: EPCIS uses UN/ECE Recommendation 20 codes (`KGM`,
`MTR`, `LTR`, `C62`/`H87` for pieces), ERPs their common short forms (`KG`, `M`, `L`, `EA`,
`PC`). A quantity is turned into its dimension's base unit (kg, m, l, pieces), so 1.2 `TNE`
equals 1,200 `KG` and 480 `C62` equals 480 `EA`. An unknown code is its own dimension: it
only compares with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

# code → (base unit, factor to the base unit)
_UNITS: dict[str, tuple[str, float]] = {
    # pieces
    "EA": ("EA", 1),
    "PC": ("EA", 1),
    "PCE": ("EA", 1),
    "ST": ("EA", 1),  # Stück, as German ERPs write it
    "C62": ("EA", 1),
    "H87": ("EA", 1),
    "NAR": ("EA", 1),
    # mass
    "KG": ("KG", 1),
    "KGM": ("KG", 1),
    "G": ("KG", 0.001),
    "GRM": ("KG", 0.001),
    "T": ("KG", 1000),
    "TO": ("KG", 1000),
    "TNE": ("KG", 1000),
    "LB": ("KG", 0.45359237),
    "LBR": ("KG", 0.45359237),
    # length
    "M": ("M", 1),
    "MTR": ("M", 1),
    "CM": ("M", 0.01),
    "CMT": ("M", 0.01),
    "MM": ("M", 0.001),
    "MMT": ("M", 0.001),
    "KM": ("M", 1000),
    "KMT": ("M", 1000),
    # volume
    "L": ("L", 1),
    "LTR": ("L", 1),
    "ML": ("L", 0.001),
    "MLT": ("L", 0.001),
    "M3": ("L", 1000),
    "MTQ": ("L", 1000),
}


@dataclass(frozen=True)
class Quantity:
    """An amount in its dimension's base unit (`unit`)."""

    amount: float
    unit: str

    def __add__(self, other: Quantity) -> Quantity:
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other.unit} to {self.unit}")
        return Quantity(self.amount + other.amount, self.unit)


def base_unit(code: str) -> str:
    """The base unit a code measures in (`KGM` → `KG`); an unknown code is its own."""
    code = (code or "").strip().upper()
    return _UNITS.get(code, (code, 1))[0]


def quantity(amount, code: str) -> Quantity | None:
    """`amount` of unit `code` in its base unit; None when `amount` is not a number."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    code = (code or "EA").strip().upper()
    unit, factor = _UNITS.get(code, (code, 1))
    return Quantity(amount * factor, unit)


def in_unit(amount: float, code: str) -> float:
    """A base-unit amount expressed in `code` again (for the sentence a planner reads)."""
    code = (code or "EA").strip().upper()
    return amount / _UNITS.get(code, (code, 1))[1]
