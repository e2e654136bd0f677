"""Webhook endpoints: subscriptions, their delivery logs, and redelivery."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from config.api_support import NewestFirstPagination
from feedback.principals import ApiKeyPrincipal
from webhooks.api.permissions import ManageWebhooks
from webhooks.api.serializers import (
    DeliverySerializer,
    RedeliverFailedResultSerializer,
    SubscriptionInSerializer,
    SubscriptionSerializer,
    SubscriptionWithSecretSerializer,
)
from webhooks.filters import DeliveryFilterSet
from webhooks.models import Delivery, Subscription
from webhooks.selectors import deliveries_list, deliveries_visible_to, subscriptions_visible_to
from webhooks.services import (
    WebhookError,
    delivery_redeliver,
    subscription_create,
    subscription_delete,
    subscription_redeliver_failed,
    subscription_sealed_approve,
    subscription_secret_rotate,
    subscription_update,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _api_error(exc: WebhookError) -> APIException:
    if exc.forbidden:
        return PermissionDenied(str(exc))
    if exc.conflict:
        return Conflict(str(exc))
    return ValidationError({exc.field or "non_field_errors": [str(exc)]})


def _person(request):
    """The user behind a session, or None for an API key (a key approves nothing)."""
    return None if isinstance(request.user, ApiKeyPrincipal) else request.user


def _owned_subscription(request, pk, *, shown: bool = True) -> Subscription:
    """A subscription the caller may manage, or 404 (another's is as good as absent).
    `shown=False`: only to act on it, so its departments are not loaded."""
    rows = subscriptions_visible_to(request.user)
    if not shown:
        rows = rows.select_related(None).prefetch_related(None)
    return get_object_or_404(rows, pk=pk)


INVALID = OpenApiResponse(description="Invalid input (problem details, with field errors).")
CONFLICT = OpenApiResponse(description="Not possible in the delivery's current state.")
NOTHING_TO_APPROVE = OpenApiResponse(description="The subscription names no sealed department.")


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions", operation_id="webhooks_list"),
    create=extend_schema(
        summary="Subscribe an endpoint to events",
        request=SubscriptionInSerializer,
        responses={201: SubscriptionWithSecretSerializer, 400: INVALID},
        description="The answer holds the signing `secret`; it is not shown again.",
    ),
    retrieve=extend_schema(summary="Read a webhook subscription"),
    update=extend_schema(
        summary="Replace a webhook subscription",
        request=SubscriptionInSerializer,
        responses={200: SubscriptionSerializer, 400: INVALID},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a webhook subscription",
        request=SubscriptionInSerializer,
        responses={200: SubscriptionSerializer, 400: INVALID},
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription and its delivery log", responses={204: None}
    ),
)
class SubscriptionViewSet(GenericViewSet):
    """Webhook subscriptions: staff sessions or API keys with the `webhooks` scope. A key
    sees and changes only the subscriptions it created; another's answer 404."""

    permission_classes = [ManageWebhooks]
    serializer_class = SubscriptionSerializer
    queryset = Subscription.objects.none()  # for the schema; the methods use the selector

    def _get(self, pk) -> Subscription:
        return _owned_subscription(self.request, pk)

    def _out(self, subscription: Subscription, *, with_secret: bool = False) -> dict:
        cls = SubscriptionWithSecretSerializer if with_secret else SubscriptionSerializer
        return cls(subscription, context={"request": self.request}).data

    def list(self, request):
        # Subscriptions are a handful per organisation: no pagination needed.
        rows = subscriptions_visible_to(request.user)
        return Response(SubscriptionSerializer(rows, many=True, context={"request": request}).data)

    def create(self, request):
        incoming = SubscriptionInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            subscription = subscription_create(
                **incoming.validated_data,
                owner_key_id=getattr(request.user, "key_id", None),
                created_by=_person(request),
            )
        except WebhookError as exc:
            raise _api_error(exc) from exc
        return Response(self._out(subscription, with_secret=True), status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(self._out(self._get(pk)))

    def update(self, request, pk=None, partial=False):
        subscription = self._get(pk)
        incoming = SubscriptionInSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        try:
            subscription = subscription_update(
                subscription=subscription, actor=_person(request), **incoming.validated_data
            )
        except WebhookError as exc:
            raise _api_error(exc) from exc
        return Response(self._out(self._get(subscription.pk)))

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        subscription_delete(subscription=self._get(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionSecretRotateView(APIView):
    """A new signing secret, shown in this answer only; the old one stops at once."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Rotate a subscription's signing secret",
        request=None,
        responses=SubscriptionWithSecretSerializer,
    )
    def post(self, request, pk):
        subscription = subscription_secret_rotate(subscription=_owned_subscription(request, pk))
        data = SubscriptionWithSecretSerializer(subscription, context={"request": request}).data
        return Response(data)


class SubscriptionSealedApproveView(APIView):
    """Let a subscription receive the events of the sealed departments it names (HR).
    Only a manager of that department or a superuser, in a browser session: an API key
    cannot approve, not even its own subscription."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Approve a subscription for the sealed departments it names",
        request=None,
        responses={200: SubscriptionSerializer, 409: NOTHING_TO_APPROVE},
    )
    def post(self, request, pk):
        subscription = _owned_subscription(request, pk)
        if _person(request) is None:
            raise PermissionDenied("An API key cannot approve webhooks; a manager must.")
        try:
            subscription = subscription_sealed_approve(subscription=subscription, user=request.user)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        subscription = _owned_subscription(request, subscription.pk)  # departments prefetched
        return Response(SubscriptionSerializer(subscription, context={"request": request}).data)


class DeliveryPagination(NewestFirstPagination):
    ordering = ("-pk",)  # newest first, matching the (subscription, -id) index


class SubscriptionDeliveriesView(ListAPIView):
    """The delivery log of one subscription, newest first (filter with `?status=failed`)."""

    permission_classes = [ManageWebhooks]
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeliveryFilterSet

    @extend_schema(summary="A subscription's delivery log")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return Delivery.objects.none()
        subscription = _owned_subscription(self.request, self.kwargs["pk"], shown=False)
        return deliveries_list(subscription=subscription)


@extend_schema_view(get=extend_schema(summary="One delivery, with its last answer"))
class DeliveryDetailView(RetrieveAPIView):
    permission_classes = [ManageWebhooks]
    serializer_class = DeliverySerializer
    queryset = Delivery.objects.none()  # for the schema

    def get_queryset(self):
        return deliveries_visible_to(self.request.user)


class DeliveryRedeliverView(APIView):
    """Send a finished delivery again, as a new delivery with the same event id. While that
    redelivery is pending, repeating the POST returns it instead of queueing another."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Redeliver a delivery",
        request=None,
        responses={202: DeliverySerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        delivery = get_object_or_404(deliveries_visible_to(request.user), pk=pk)
        try:
            redelivery = delivery_redeliver(delivery=delivery)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        data = DeliverySerializer(redelivery, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class SubscriptionRedeliverFailedView(APIView):
    """After an outage: redeliver every failed delivery of the subscription that has not
    been redelivered yet (up to 1,000 per call; call again for more)."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Redeliver all failed deliveries of a subscription",
        request=None,
        responses={202: RedeliverFailedResultSerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        subscription = _owned_subscription(request, pk, shown=False)
        try:
            count = subscription_redeliver_failed(subscription=subscription)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        data = RedeliverFailedResultSerializer({"redelivered": count}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)
