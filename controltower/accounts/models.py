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


class TokenQuerySet(models.QuerySet):
    def usable(self) -> TokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class BearerToken(models.Model):
    """What every stored bearer token is (personal or a source system's): only the SHA-256
    digest of the secret is kept, with a short display prefix, its expiry and revocation."""

    digest = models.CharField(max_length=64, unique=True)
    display_prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def revoke(self) -> bool:
        """Revoke now; False when it was already revoked (idempotent, race-safe)."""
        updated = (
            type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        )
        self.refresh_from_db(fields=["revoked_at"])
        return updated == 1


class PersonalToken(BearerToken):
    """A user's API token: acts with that user's roles and scope."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=100)

    class Meta(BearerToken.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.display_prefix}… ({self.name})"
