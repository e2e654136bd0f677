"""Webhook API shapes. Input serializers validate the request; services do the work;
output serializers render the result."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from config.api_support import SlugRelatedField
from departments.models import Department
from webhooks.models import Delivery, Event, Subscription
from webhooks.services import check_url


class SubscriptionInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(
        max_length=2000, validators=[check_url], help_text="http:// or https:// endpoint."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices), allow_empty=False
    )
    departments = SlugRelatedField(
        slug_field="slug",
        queryset=Department.objects.all(),
        many=True,
        required=False,
        help_text="Department slugs; empty or absent means every department.",
    )
    format = serializers.ChoiceField(
        choices=Subscription.Format.choices, default=Subscription.Format.JSON
    )
    active = serializers.BooleanField(default=True)


class SubscriptionSerializer(serializers.ModelSerializer):
    departments = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    secret_hint = serializers.CharField(read_only=True)
    sealed_approved_for = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Sealed departments whose events it receives (approved by their manager).",
    )
    sealed_awaiting_approval = serializers.SerializerMethodField(
        help_text="Sealed departments it names whose events it does not receive until their "
        "manager or a superuser approves it (`POST …/approve/`)."
    )
    sealed_approved_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Username of whoever approved it last, if anyone.",
    )
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "departments",
            "format",
            "active",
            "secret_hint",
            "sealed_approved_for",
            "sealed_awaiting_approval",
            "sealed_approved_by",
            "sealed_approved_at",
            "created_at",
            "updated_at",
            "deliveries_url",
        ]

    def get_sealed_awaiting_approval(self, obj: Subscription) -> list[str]:
        approved = set(obj.sealed_approved_for)
        return sorted(d.slug for d in obj.departments.all() if d.sealed and d.slug not in approved)

    def get_deliveries_url(self, obj: Subscription) -> str:
        return reverse("api:webhook-deliveries", args=[obj.pk], request=self.context.get("request"))


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    """Only in the answers that create a secret (create, rotate): it is not shown again."""

    secret = serializers.CharField(read_only=True)

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    # A plain string here: the same choices as a subscription's `events` under a second
    # name would make the schema carry two enums for one set of event names.
    event = serializers.CharField(read_only=True, help_text="The event, e.g. `item.routed`.")
    redeliver_url = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "subscription",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_code",
            "response_ms",
            "response_body",
            "error",
            "created_at",
            "delivered_at",
            "redelivery_of",
            "payload",
            "redeliver_url",
        ]

    def get_redeliver_url(self, obj: Delivery) -> str:
        return reverse(
            "api:webhook-delivery-redeliver", args=[obj.pk], request=self.context.get("request")
        )


class RedeliverFailedResultSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField()
