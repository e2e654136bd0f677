"""The bell's dropdown, the notifications page, opening one, and the person's settings."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import services
from notifications.forms import PreferenceForm
from notifications.selectors import (
    PANEL_SIZE,
    notifications_for,
    notifications_page,
    preference_of,
    unread_count,
)
from notifications.services import HANDOFF_NOTIFY_ALL_UP_TO


def _page(request, form=None, status=200):
    preference = preference_of(request.user)
    if form is None:
        initial = {"email": preference.email}
        if preference.pk:
            initial["watched"] = list(preference.watched.values_list("pk", flat=True))
        form = PreferenceForm(initial=initial, user=request.user)
    return render(
        request,
        "notifications/list.html",
        {
            "notifications": notifications_page(request.user),
            "form": form,
            "handoff_all_up_to": HANDOFF_NOTIFY_ALL_UP_TO,
        },
        status=status,
    )


@login_required
@require_GET
def notification_list(request):
    if request.GET.get("panel") or request.htmx:
        rows = notifications_page(request.user, limit=PANEL_SIZE)
        return render(request, "notifications/list.html#panel", {"notifications": rows})
    return _page(request)


@login_required
@require_GET
def notification_count(request):
    """The bell's unread count, as the fragment the header swaps in (on load, then every
    minute)."""
    unread, more = unread_count(request.user)
    return render(request, "notifications/_bell_count.html", {"unread": unread, "more": more})


@login_required
@require_GET
def notification_open(request, pk: int):
    """Mark it read and go to its item (emails link here too)."""
    notification = get_object_or_404(notifications_for(request.user), pk=pk)
    services.notification_open(user=request.user, notification=notification)
    return redirect("departments:item", pk=notification.item_id)


@login_required
@require_POST
def notifications_read_all(request):
    services.notifications_mark_all_read(user=request.user)
    if request.htmx:
        rows = notifications_page(request.user, limit=PANEL_SIZE)
        return render(
            request, "notifications/list.html#panel", {"notifications": rows, "oob": True}
        )
    return redirect("notifications:list")


@login_required
@require_http_methods(["POST"])
def notification_settings(request):
    form = PreferenceForm(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    services.preference_set(
        user=request.user, email=form.cleaned_data["email"], watched=form.cleaned_data["watched"]
    )
    return redirect(reverse("notifications:list") + "#settings")
