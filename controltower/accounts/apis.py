"""Who am I, and my personal API tokens."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts import selectors, services
from controltower.accounts.access import CanView, IsPerson, access_for
from controltower.masterdata.models import Plant, Supplier


class MeApi(APIView):
    """The caller: roles, capabilities and scope (the plants and suppliers they see)."""

    permission_classes = [CanView, IsPerson]

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        capabilities = serializers.ListField(child=serializers.CharField())
        sees_all_partners = serializers.BooleanField()
        plants = serializers.ListField(child=serializers.CharField())
        suppliers = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        access = access_for(request.user)
        scope = access.scope
        data = {
            "username": request.user.get_username(),
            "roles": selectors.roles_of(user=request.user),
            "capabilities": sorted(c.value for c in access.capabilities),
            "sees_all_partners": scope.everything,
            "plants": list(Plant.objects.filter(id__in=scope.plant_ids).values_list("code", flat=True)),
            "suppliers": list(
                Supplier.objects.filter(id__in=scope.supplier_ids).values_list("code", flat=True)
            ),
        }
        return Response(self.OutputSerializer(data).data)


class PersonalTokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class PersonalTokenListApi(APIView):
    """List your tokens, or create one. Creating needs a browser session, not a token, so a
    leaked token cannot mint fresh ones."""

    permission_classes = [CanView, IsPerson]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        expires_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)

    def get_authenticators(self):
        if self.request is not None and self.request.method == "POST":
            return [SessionAuthentication()]
        return super().get_authenticators()

    @extend_schema(responses=PersonalTokenOutputSerializer(many=True))
    def get(self, request):
        tokens = selectors.personal_tokens_of(user=request.user)
        return Response(PersonalTokenOutputSerializer(tokens, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "CreatedPersonalToken",
                {"token": serializers.CharField(), "record": PersonalTokenOutputSerializer()},
            )
        },
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        days = payload.validated_data.get("expires_days")
        expires_in = True if days is None else (timedelta(days=days) if days else None)
        token, plaintext = services.personal_token_create(
            user=request.user, name=payload.validated_data["name"], expires_in=expires_in
        )
        return Response(
            {"token": plaintext, "record": PersonalTokenOutputSerializer(token).data},
            status=status.HTTP_201_CREATED,
        )


class PersonalTokenDetailApi(APIView):
    """Revoke one of your tokens (idempotent)."""

    permission_classes = [CanView, IsPerson]

    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        token = get_object_or_404(selectors.personal_tokens_of(user=request.user), pk=token_id)
        services.personal_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
