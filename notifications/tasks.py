from celery import shared_task

from notifications.services import (
    notification_emails_send,
    notification_emails_sweep,
    notifications_breach_soon,
)


@shared_task(acks_late=True, ignore_result=True)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Send the emails of these notifications (queued after the change committed)."""
    return notification_emails_send(notification_ids=notification_ids)


@shared_task(acks_late=True, ignore_result=True)
def notify_breach_soon() -> int:
    """Beat: tell assignees their case is about to breach its first-response SLA (once per
    case), and send the notification emails a broker outage left pending."""
    made = notifications_breach_soon()
    notification_emails_sweep()
    return made
