from django.urls import include, path

from feedback.api import views

app_name = "api"

urlpatterns = [
    path("feedback/", views.FeedbackIngestView.as_view(), name="feedback-list"),
    path("feedback/<int:pk>/", views.FeedbackDetailView.as_view(), name="feedback-detail"),
    path("", include("webhooks.api.urls")),
]
