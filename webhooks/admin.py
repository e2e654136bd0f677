"""Admin for webhooks: subscriptions (with their secret, for the receiver's config) and the
delivery log, with redelivery as an action and as a button on a delivery's page."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from webhooks.models import Delivery, Event, Subscription
from webhooks.selectors import subscription_targets_forget
from webhooks.services import (
    WebhookError,
    check_url,
    deliveries_redeliver,
    delivery_redeliver,
    subscription_redeliver_failed,
    subscription_secret_rotate,
)


class SubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=Event.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = Subscription
        fields = ["name", "url", "events", "departments", "format", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        check_url(url)
        return url


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "event_list", "format", "active", "deliveries_link"]
    list_filter = ["active", "format"]
    search_fields = ["name", "url"]
    filter_horizontal = ["departments"]
    readonly_fields = ["secret", "created_at", "updated_at", "deliveries_link"]
    actions = ["rotate_secret", "redeliver_failed"]

    @admin.display(description="events")
    def event_list(self, obj: Subscription) -> str:
        return ", ".join(obj.events)

    @admin.display(description="delivery log")
    def deliveries_link(self, obj: Subscription) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:webhooks_delivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        subscription_targets_forget()  # departments are saved here, after the row

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        subscription_targets_forget()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        subscription_targets_forget()

    @admin.action(description="Rotate the signing secret of selected subscriptions")
    def rotate_secret(self, request, queryset) -> None:
        for subscription in queryset:
            subscription_secret_rotate(subscription=subscription)
        self.message_user(
            request, "New secrets are on each subscription's page; update the receivers."
        )

    @admin.action(description="Redeliver failed deliveries of selected subscriptions")
    def redeliver_failed(self, request, queryset) -> None:
        total = 0
        for subscription in queryset:
            try:
                total += subscription_redeliver_failed(subscription=subscription)
            except WebhookError as exc:
                self.message_user(request, f"{subscription}: {exc}", messages.WARNING)
        self.message_user(request, f"{total} delivery(ies) queued again.")


class CappedCountPaginator(Paginator):
    """The delivery log grows without bound: count at most CAP rows instead of COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "subscription",
        "event",
        "status",
        "attempts",
        "response_code",
        "response_ms",
        "created_at",
        "delivered_at",
        "short_error",
    ]
    list_filter = ["status", "event", "subscription"]
    list_select_related = ["subscription"]
    search_fields = ["=event_id", "=id"]
    ordering = ["-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["redeliver"]
    fields = [
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
        "pretty_payload",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # deliveries come from events, never by hand

    @admin.display(description="error")
    def short_error(self, obj: Delivery) -> str:
        return obj.error[:80]

    @admin.display(description="payload")
    def pretty_payload(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.action(description="Redeliver selected")
    def redeliver(self, request, queryset) -> None:
        created, skipped = deliveries_redeliver(deliveries=queryset.order_by("id"))
        self.message_user(request, f"{len(created)} delivery(ies) queued again.")
        for reason in skipped:
            self.message_user(request, reason, messages.WARNING)

    def get_urls(self):
        extra = [
            path(
                "<int:object_id>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name="webhooks_delivery_redeliver",
            )
        ]
        return extra + super().get_urls()

    def redeliver_view(self, request, object_id: int):
        """The Redeliver button on a delivery's page (POST only: it changes state)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        delivery = get_object_or_404(Delivery, pk=object_id)
        if not self.has_change_permission(request, delivery):
            return HttpResponseRedirect(reverse("admin:index"))
        try:
            redelivery = delivery_redeliver(delivery=delivery)
        except WebhookError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:webhooks_delivery_change", args=[delivery.pk])
            )
        self.message_user(request, f"Queued again as delivery {redelivery.pk}.")
        return HttpResponseRedirect(reverse("admin:webhooks_delivery_change", args=[redelivery.pk]))
