"""Privacy fixtures. Personas on top of tests/conftest.py (alice: support agent, hana: HR
agent, charlie: in no department):

- helen: HR's manager, who reads HR's access log;
- maria: support's manager (a manager, but not of HR: refused);
- root: a superuser.
"""

import pytest

from departments.models import Case, Department, Membership
from tests.factories import FeedbackItemFactory, UserFactory, member


@pytest.fixture
def helen(db):
    user = UserFactory(username="helen", first_name="Helen")
    member(user, "hr", role=Membership.Role.MANAGER)
    return user


@pytest.fixture
def maria(db):
    user = UserFactory(username="maria", first_name="Maria")
    member(user, "support", role=Membership.Role.MANAGER)
    return user


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def make_case(slug: str, body: str = "My shift lead shouts at the night team", **item) -> Case:
    item = FeedbackItemFactory(body=body, state="routed", **item)
    return Case.objects.create(
        item=item, department=Department.objects.get(slug=slug), routed_by="model"
    )
