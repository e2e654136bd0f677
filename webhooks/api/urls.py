"""Included by feedback.api.urls under /api/v1/ in the `api` namespace (so no app_name)."""

from django.urls import path

from webhooks.api import views

subscriptions = views.SubscriptionViewSet.as_view({"get": "list", "post": "create"})
subscription = views.SubscriptionViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    path("webhooks/", subscriptions, name="webhook-list"),
    path("webhooks/<int:pk>/", subscription, name="webhook-detail"),
    path(
        "webhooks/<int:pk>/deliveries/",
        views.SubscriptionDeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<int:pk>/redeliver-failed/",
        views.SubscriptionRedeliverFailedView.as_view(),
        name="webhook-redeliver-failed",
    ),
    path(
        "webhooks/<int:pk>/rotate-secret/",
        views.SubscriptionSecretRotateView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:pk>/approve/",
        views.SubscriptionSealedApproveView.as_view(),
        name="webhook-approve",
    ),
    path(
        "webhooks/deliveries/<int:pk>/",
        views.DeliveryDetailView.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhooks/deliveries/<int:pk>/redeliver/",
        views.DeliveryRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
]
