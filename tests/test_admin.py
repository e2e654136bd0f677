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


def _rule_post(conditions: str) -> dict:
    return {
        "name": "Refunds",
        "position": 10,
        "enabled": "on",
        "match": "all",
        "conditions": conditions,
        "actions": '[{"type": "route_to", "department": "support"}]',
    }


def test_admin_refuses_a_rule_the_workers_could_not_run(client):
    from routing.models import Rule

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:routing_rule_add")
    lookbehind = '[{"field": "body", "op": "regex", "value": "(?<=order )\\\\d+"}]'
    response = client.post(url, _rule_post(lookbehind))
    assert response.status_code == 200
    assert "RE2" in response.content.decode()
    assert not Rule.objects.filter(name="Refunds").exists()

    plain = '[{"field": "body", "op": "regex", "value": "order \\\\d+"}]'
    response = client.post(url, _rule_post(plain))
    assert response.status_code == 302
    assert Rule.objects.filter(name="Refunds").exists()
