"""Every /api/v1/ route, and the OpenAPI schema with its offline docs."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

from config.api_stats import StatsView
from departments.api.views import CaseViewSet, DepartmentViewSet
from feedback.api import urls as feedback_urls
from routing.api.views import ClassifierVersionViewSet, RuleViewSet
from webhooks.api import urls as webhook_urls

app_name = "api"

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("departments", DepartmentViewSet, basename="department")
router.register("rules", RuleViewSet, basename="rule")
router.register("classifier-versions", ClassifierVersionViewSet, basename="classifier-version")

urlpatterns = [
    *feedback_urls.urlpatterns,
    *webhook_urls.urlpatterns,
    path("stats/", StatsView.as_view(), name="stats"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
]
