from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz, metrics_view

# A database outage answers 503 (problem details on /api/, a short page elsewhere).
handler500 = "config.health.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("config.api_urls", namespace="api")),
    path("rules/", include("routing.urls")),
    path("dashboards/", include("departments.dashboard_urls")),
    path("departments/", include("privacy.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("departments.urls")),
]
