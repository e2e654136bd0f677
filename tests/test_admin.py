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


VERSIONS_URL = "admin:routing_classifierversion_changelist"


def _activate(client, version: ClassifierVersion):
    return client.post(
        reverse(VERSIONS_URL), {"action": "activate", "_selected_action": [version.pk]}, follow=True
    )


def test_rollback_to_an_earlier_classifier_version(client):
    from routing.classification import classifier_active

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    current = classifier_active()
    artifact = ClassifierVersion.objects.get(pk=current.pk).artifact
    older = ClassifierVersion.objects.create(version="older-v1", artifact=artifact)
    _activate(client, older)
    assert ClassifierVersion.objects.get(active=True).version == "older-v1"
    _activate(client, ClassifierVersion.objects.get(pk=current.pk))
    assert ClassifierVersion.objects.get(active=True).version == current.version


@pytest.mark.parametrize(
    ("artifact", "why"),
    [
        (b"", "has no artifact"),
        (b"not a model at all", "does not load"),
        ("truncated", "does not load"),
    ],
)
def test_activating_a_version_whose_artifact_does_not_load_is_refused(client, artifact, why):
    from routing.classification import classifier_active

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    current = classifier_active()
    if artifact == "truncated":  # a real artifact cut short, as by an interrupted upload
        whole = bytes(ClassifierVersion.objects.get(pk=current.pk).artifact)
        artifact = whole[: len(whole) // 2]
    broken = ClassifierVersion.objects.create(version="broken-v1", artifact=artifact)

    response = _activate(client, broken)

    page = response.content.decode()
    assert response.status_code == 200
    assert f"broken-v1 {why}" in page and "Nothing was changed." in page
    assert "is active" not in page
    assert ClassifierVersion.objects.get(active=True).pk == current.pk  # still routing
    assert ClassifierVersion.objects.get(pk=broken.pk).activated_at is None


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
