from celery import shared_task

from departments.models import Department
from departments.services import cases_auto_assign


@shared_task(acks_late=True, ignore_result=True)
def auto_assign(department_ids: list[int]) -> int:
    total = 0
    for department in Department.objects.filter(pk__in=department_ids, auto_assign=True):
        total += cases_auto_assign(department=department)
    return total
