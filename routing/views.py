"""The rule editor (admins only): list, create, edit, and dry-run rules before saving."""

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from routing.forms import RuleForm
from routing.models import Rule
from routing.rules import RuleError
from routing.selectors import DRY_RUN_DEFAULT, rule_dry_run
from routing.services import rule_save


@staff_member_required
def rule_list(request):
    return render(request, "routing/rule_list.html", {"rules": Rule.objects.all()})


@staff_member_required
def rule_edit(request, pk: int | None = None):
    rule = get_object_or_404(Rule, pk=pk) if pk else None
    form = RuleForm(request.POST or None, rule=rule)
    if request.method == "POST" and not form.rearranged and form.is_valid():
        data = form.cleaned_data
        try:
            rule_save(
                rule=rule,
                name=data["name"],
                position=data["position"],
                enabled=data["enabled"],
                match=data["match"],
                conditions=data["conditions"],
                actions=data["actions"],
                user=request.user,
            )
        except RuleError as exc:  # a department removed between validation and save
            form.add_error(None, str(exc))
        else:
            return redirect("routing:rule-list")
    return render(request, "routing/rule_form.html", _context(form, rule))


@staff_member_required
@require_POST
def rule_dry_run_view(request, pk: int | None = None):
    """Render what the rule in the form would change (an htmx fragment, or a full page)."""
    rule = get_object_or_404(Rule, pk=pk) if pk else None
    form = RuleForm(_builder_post(request), rule=rule)
    report = None
    if form.is_valid():
        report = rule_dry_run(
            viewer=request.user,
            candidate=form.compiled,
            position=form.cleaned_data["position"],
            replacing=rule.pk if rule else None,
            limit=form.cleaned_data.get("limit") or DRY_RUN_DEFAULT,
        )
    if not request.htmx:
        return render(request, "routing/rule_form.html", _context(form, rule, report=report))
    # The fragment also redraws, out of band, the JSON view (from the rows) and the rows:
    # all of them when the JSON was edited or a row added or removed (or a row's field or
    # action type changed, which changes its inputs), else only their error messages, so
    # an input being typed in is not replaced.
    context = _context(form, rule, report=report, oob=True)
    rows = context["builder"]
    context["redraw_rows"] = (
        form.resolved.from_json
        or form.rearranged
        or request.POST.get("rows_shape") != rows["shape"]
    )
    return render(request, "routing/_dry_run.html", context)


def _builder_post(request):
    """The post, without an add or remove row button that did not send it: htmx includes
    the last focused submit button of a form in every request the form makes (a "change"
    while the remove button has focus would remove the row). A plain post names only the
    button pressed."""
    data = request.POST
    for key in ("add", "remove"):
        if request.htmx and data.get(key) and request.htmx.trigger != f"{key}-{data[key]}":
            data = data.copy()
            del data[key]
    return data


def _context(form: RuleForm, rule: Rule | None, **extra) -> dict:
    dry_run = (
        reverse("routing:rule-dry-run", args=[rule.pk])
        if rule
        else reverse("routing:rule-new-dry-run")
    )
    return {"form": form, "rule": rule, "builder": form.builder(), "dry_run_url": dry_run, **extra}
