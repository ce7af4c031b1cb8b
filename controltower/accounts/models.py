"""Users with a plant/supplier scope, and their personal API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from controltower.masterdata.models import Plant, Supplier


class User(AbstractUser):
    """A person. Roles are groups (see `roles.py`); scope is the fields below.

    `sees_all_partners` gives the whole network; otherwise the user sees what belongs to any of
    `plants` or `suppliers` (and nothing if both are empty).
    """

    sees_all_partners = models.BooleanField(
        "sees all plants and suppliers",
        default=False,
        help_text="Unticked: the user only sees data of the plants and suppliers below.",
    )
    plants = models.ManyToManyField(Plant, blank=True, related_name="users")
    suppliers = models.ManyToManyField(Supplier, blank=True, related_name="users")


class PersonalTokenQuerySet(models.QuerySet):
    def usable(self) -> PersonalTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class PersonalToken(models.Model):
    """A user's API token: acts with that user's roles and scope. Only its digest is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    display_prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PersonalTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.display_prefix}… ({self.name})"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
