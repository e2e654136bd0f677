"""Admin for webhooks: subscriptions (with their secret, for the receiver's config) and the
delivery log, with redelivery as an action and as a button on a delivery's page.

Both lists show what the API would show the same person (selectors.*_visible_to): a
superuser sees everything; other staff their own subscriptions and those naming a sealed
department they manage, so a delivery log never shows HR's payloads to someone outside HR.
Sealed departments' events are approved here too (the *Approve* action)."""

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
from webhooks.selectors import (
    deliveries_visible_to,
    subscription_sealed_named,
    subscription_targets_forget,
    subscriptions_visible_to,
)
from webhooks.services import (
    WebhookError,
    check_url,
    deliveries_redeliver,
    delivery_redeliver,
    subscription_approvals_settle,
    subscription_redeliver_failed,
    subscription_sealed_approve,
    subscription_sealed_withdraw,
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
    list_display = [
        "name",
        "url",
        "event_list",
        "format",
        "active",
        "sealed_approval",
        "deliveries_link",
    ]
    list_filter = ["active", "format"]
    search_fields = ["name", "url"]
    filter_horizontal = ["departments"]
    readonly_fields = [
        "secret",
        "owner_key",
        "created_by",
        "sealed_approved_for",
        "sealed_approved_by",
        "sealed_approved_at",
        "created_at",
        "updated_at",
        "deliveries_link",
    ]
    actions = ["rotate_secret", "redeliver_failed", "approve_sealed", "withdraw_sealed"]

    def get_queryset(self, request):
        return subscriptions_visible_to(request.user)

    @admin.display(description="sealed departments")
    def sealed_approval(self, obj: Subscription) -> str:
        named = sorted(d.slug for d in obj.departments.all() if d.sealed)
        if not named:
            return "-"
        waiting = [slug for slug in named if slug not in obj.sealed_approved_for]
        return f"awaiting approval: {', '.join(waiting)}" if waiting else "approved"

    @admin.display(description="events")
    def event_list(self, obj: Subscription) -> str:
        return ", ".join(obj.events)

    @admin.display(description="delivery log")
    def deliveries_link(self, obj: Subscription) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:webhooks_delivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            before = Subscription.objects.get(pk=obj.pk)
            form.before = (before.url, subscription_sealed_named(before))
        else:
            obj.created_by = request.user
            form.before = (obj.url, set())
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # Departments are saved here, after the row: now the approvals can follow them.
        before_url, before_sealed = form.before
        subscription_approvals_settle(
            subscription=form.instance,
            actor=request.user,
            before_url=before_url,
            before_sealed=before_sealed,
        )
        subscription_targets_forget()

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

    @admin.action(description="Approve selected for the sealed departments they name")
    def approve_sealed(self, request, queryset) -> None:
        for subscription in queryset:
            try:
                subscription_sealed_approve(subscription=subscription, user=request.user)
            except WebhookError as exc:
                self.message_user(request, f"{subscription}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"{subscription}: approved.")

    @admin.action(description="Withdraw the sealed-department approval of selected")
    def withdraw_sealed(self, request, queryset) -> None:
        for subscription in queryset:
            subscription_sealed_withdraw(subscription=subscription)
        self.message_user(request, "They no longer receive sealed departments' events.")

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
        "sealed",
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

    def get_queryset(self, request):
        return deliveries_visible_to(request.user)

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
        delivery = get_object_or_404(deliveries_visible_to(request.user), pk=object_id)
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
