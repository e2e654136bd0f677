"""Managers for the dashboard tests (personas: see tests/conftest.py)."""

import pytest

from tests.factories import UserFactory, member


@pytest.fixture
def manager(db):
    """Mona, support's manager (outside HR)."""
    user = UserFactory(username="mona", email="mona@example.com")
    member(user, "support", role="manager")
    return user


@pytest.fixture
def harriet(db):
    """HR's manager."""
    user = UserFactory(username="harriet", email="harriet@example.com")
    member(user, "hr", role="manager")
    return user


@pytest.fixture
def subscriptions():
    """Webhook subscriptions made in a test must not outlive it in the process's cache."""
    from webhooks.selectors import subscription_targets_forget

    subscription_targets_forget()
    yield
    subscription_targets_forget()
