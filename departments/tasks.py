from celery import shared_task

from departments.models import Department
from departments.services import cases_auto_assign


@shared_task(acks_late=True, ignore_result=True)
def auto_assign(department_ids: list[int]) -> int:
    total = 0
    for department in Department.objects.filter(pk__in=department_ids, auto_assign=True):
        total += cases_auto_assign(department=department)
    return total


@shared_task(acks_late=True, ignore_result=True)
def refresh_rollups(days: int = 2) -> int:
    """Recompute the dashboards' daily rollups for the last `days` days (today included)."""
    from datetime import timedelta

    from django.utils import timezone

    from departments.metrics import backlog_refresh
    from departments.rollups import rollups_refresh

    today = timezone.now().date()
    written = rollups_refresh(start=today - timedelta(days=days - 1), end=today)
    backlog_refresh()
    return written


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=900, time_limit=1000)
def refresh_themes() -> int:
    from departments.signals_detect import themes_refresh

    return themes_refresh()


@shared_task(acks_late=True, ignore_result=True)
def detect_spikes() -> int:
    from departments.signals_detect import spikes_detect

    return len(spikes_detect())


@shared_task(acks_late=True, ignore_result=True)
def weekly_digest() -> int:
    from departments.signals_detect import digest_send

    return digest_send()
