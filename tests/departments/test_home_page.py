import pytest

from departments.models import Case, Department
from tests.factories import FeedbackItemFactory

pytestmark = pytest.mark.django_db


def test_login_required(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_agent_sees_their_departments_open_cases_escaped(client, alice):
    item = FeedbackItemFactory(body="<script>alert('x')</script> refund please")
    Case.objects.create(item=item, department=Department.objects.get(slug="support"),
                        routed_by="model", reason="model v1: score 0.91")
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Support" in html and "1 open" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; refund please" in html
    assert "<script>alert" not in html


def test_member_of_no_department_is_told_so(client, charlie):
    client.force_login(charlie)
    assert "not a member of any department" in client.get("/").content.decode()
