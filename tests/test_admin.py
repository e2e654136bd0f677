"""Every admin page an admin uses opens (departments, people, rules, keys, versions...)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from routing.models import ClassifierVersion
from tests.factories import FeedbackItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_every_admin_changelist_opens(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    FeedbackItemFactory()
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_rollback_to_an_earlier_classifier_version(client):
    from routing.classification import classifier_active

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    current = classifier_active()
    older = ClassifierVersion.objects.create(version="older-v1", artifact=b"x")
    url = reverse("admin:routing_classifierversion_changelist")
    client.post(url, {"action": "activate", "_selected_action": [older.pk]})
    assert ClassifierVersion.objects.get(active=True).version == "older-v1"
    client.post(url, {"action": "activate", "_selected_action": [current.pk]})
    assert ClassifierVersion.objects.get(active=True).version == current.version
