"""Bench-only URLs: every product URL, plus the platform's own ceilings.

- `bench/minimal-create/`: the smallest DRF create endpoint for a feedback row (a
  ModelSerializer and CreateAPIView, default authentication, permission and throttling),
  against which single-post ingest is compared;
- `bench/minimal-page/`: the smallest logged-in page, against which page latency is
  compared.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.validators import UniqueTogetherValidator

from config.urls import urlpatterns as product_urlpatterns
from feedback.models import FeedbackItem


class MinimalFeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeedbackItem
        fields = ["id", "source", "external_id", "body"]
        # DRF's default check of the (source, external_id) constraint, as a system read:
        # every read of FeedbackItem in a request must name its viewer (config/access.py),
        # and this ceiling has none. The same one query as before.
        validators = [
            UniqueTogetherValidator(
                queryset=FeedbackItem.objects.unscoped(), fields=["source", "external_id"]
            )
        ]


class MinimalCreate(generics.CreateAPIView):
    serializer_class = MinimalFeedbackSerializer


@login_required
def minimal_page(request):
    return HttpResponse(f"<!doctype html><title>bench</title><p>{request.user.username}</p>")


urlpatterns = [
    path("bench/minimal-create/", MinimalCreate.as_view()),
    path("bench/minimal-page/", minimal_page),
    *product_urlpatterns,
]
