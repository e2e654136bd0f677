"""Routing talks to departments through its services, never its Celery tasks: what to
enqueue, on which queue and when, is departments' business."""

import ast
from pathlib import Path

import pytest

from departments.models import Case, Department
from routing.services import items_route
from tests.factories import FeedbackItemFactory, UserFactory, member

ROUTING = Path(__file__).resolve().parents[2] / "routing"


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function (`from a import b`
    counts as both `a` and `a.b`, since b may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_routing_never_imports_the_departments_tasks():
    offenders = {
        str(path.relative_to(ROUTING.parent)): sorted(
            m for m in imported_modules(path) if m.startswith("departments.tasks")
        )
        for path in ROUTING.rglob("*.py")
    }
    assert not {path: found for path, found in offenders.items() if found}


def test_the_check_sees_a_local_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from departments import tasks\n")
    assert "departments.tasks" in imported_modules(sample)


@pytest.mark.django_db
def test_routing_into_an_auto_assign_department_assigns_after_commit(
    django_capture_on_commit_callbacks,
):
    """The departments service enqueues the assignment once routing has committed; eager
    Celery runs it in-process here."""
    Department.objects.filter(slug="support").update(routing_threshold=0.0, auto_assign=True)
    Department.objects.exclude(slug="support").update(routing_threshold=1.01)
    alice = UserFactory(username="alice")
    member(alice, "support")
    item = FeedbackItemFactory(body="I was charged twice for my order, please refund me")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        items_route(item_ids=[item.pk])
    case = Case.objects.get(item=item)
    assert case.assignee is None and case.status == Case.Status.NEW  # not before commit
    assert callbacks

    for callback in callbacks:
        callback()
    case.refresh_from_db()
    assert case.assignee == alice and case.status == Case.Status.OPEN
