"""Plants and suppliers.

They sit on the ground floor because a user's scope is a set of plants and suppliers, and every
later record (systems, events, traces, cases) belongs to one of them.
"""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9._-]{0,31}$",
    "Use 1-32 upper-case letters, digits, dots, dashes or underscores, starting with a letter or digit.",
)


def validate_gln(value: str) -> None:
    """A GS1 Global Location Number: 13 digits whose last is the mod-10 check digit."""
    if not (len(value) == 13 and value.isdigit()):
        raise ValidationError("A GLN is 13 digits.")
    body = value[:12]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if str((10 - total % 10) % 10) != value[12]:
        raise ValidationError(f"{value} has a wrong check digit.")


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Berlin).")


class Partner(models.Model):
    """What plants and suppliers share: a stable business code and where they are."""

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    region = models.CharField(max_length=64, blank=True, help_text="Sales or logistics region, e.g. EMEA.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    gln = models.CharField(
        "GLN",
        max_length=13,
        blank=True,
        validators=[validate_gln],
        help_text="GS1 Global Location Number, as EPCIS documents name this party.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class Plant(Partner):
    class Meta(Partner.Meta):
        constraints = [
            models.UniqueConstraint(fields=["gln"], condition=~models.Q(gln=""), name="plant_unique_gln")
        ]


class Supplier(Partner):
    class Meta(Partner.Meta):
        constraints = [
            models.UniqueConstraint(fields=["gln"], condition=~models.Q(gln=""), name="supplier_unique_gln")
        ]
