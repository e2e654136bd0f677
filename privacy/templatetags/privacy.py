from django import template

from privacy.selectors import can_read_access_log

register = template.Library()


@register.inclusion_tag("privacy/_access_log_link.html", takes_context=True)
def access_log_link(context, department, before: str = ""):
    """A link to the department's access log (after `before`), for those who may read it;
    a query only for a sealed department."""
    user = context["request"].user
    show = can_read_access_log(user, department)
    return {"department": department, "show": show, "before": before}
