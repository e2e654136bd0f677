from django.urls import path

from feedback.api import views

# Included by config/api_urls.py (namespace "api").
urlpatterns = [
    path("feedback/", views.FeedbackCollectionView.as_view(), name="feedback-list"),
    path("feedback/<int:pk>/", views.FeedbackDetailView.as_view(), name="feedback-detail"),
]
