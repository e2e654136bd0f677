import json

from django import forms

from departments.models import Department
from routing.models import Rule
from routing.rules import RuleError, rule_compile

CONDITIONS_HELP = (
    'A JSON list. Examples: {"field": "body", "op": "contains_any", "value": ["refund", '
    '"charged twice"]} · {"field": "body", "op": "regex", "value": "order\\\\s*#\\\\d+"} · '
    '{"field": "source", "op": "in", "value": ["trustpilot"]} · {"field": "language", "op": '
    '"in", "value": ["de"]} · {"field": "sentiment", "op": "below", "value": -0.5} · '
    '{"field": "score", "department": "support", "op": "above", "value": 0.4} · '
    '{"field": "followers", "op": "above", "value": 10000} · {"field": "tag", "op": "has", '
    '"value": ["complaint"]}'
)
ACTIONS_HELP = (
    'A JSON list. {"type": "route_to", "department": "support"} · {"type": "never_route_to", '
    '"department": "marketing"} · {"type": "set_priority", "priority": "urgent"} · '
    '{"type": "add_tag", "tag": "promo"} · {"type": "stop"}'
)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    position = forms.IntegerField(min_value=0, initial=100, help_text="Lower runs first.")
    enabled = forms.BooleanField(required=False, initial=True)
    match = forms.ChoiceField(choices=Rule.Match.choices, initial=Rule.Match.ALL)
    conditions = forms.JSONField(help_text=CONDITIONS_HELP, widget=forms.Textarea({"rows": 6}))
    actions = forms.JSONField(help_text=ACTIONS_HELP, widget=forms.Textarea({"rows": 4}))
    limit = forms.IntegerField(
        min_value=10,
        max_value=20_000,
        initial=1000,
        required=False,
        help_text="Dry run over this many of the latest routed items.",
    )

    def __init__(self, *args, rule: Rule | None = None, **kwargs):
        self.rule = rule
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": rule.name,
                "position": rule.position,
                "enabled": rule.enabled,
                "match": rule.match,
                "conditions": json.dumps(rule.conditions, indent=1),
                "actions": json.dumps(rule.actions, indent=1),
            }
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.compiled = rule_compile(
                pk=self.rule.pk if self.rule else None,
                name=data["name"],
                match=data["match"],
                conditions=data["conditions"],
                actions=data["actions"],
                departments=Department.objects.values_list("slug", flat=True),
            )
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data
