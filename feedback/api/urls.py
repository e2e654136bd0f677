from django.urls import path

from feedback.api import views
from feedback.api.adapters import AdapterIngestView

# Included by config/api_urls.py (namespace "api").
urlpatterns = [
    path("feedback/", views.FeedbackCollectionView.as_view(), name="feedback-list"),
    path("feedback/<int:pk>/", views.FeedbackDetailView.as_view(), name="feedback-detail"),
    path("ingest/<slug:adapter>/", AdapterIngestView.as_view(), name="ingest-adapter"),
]
