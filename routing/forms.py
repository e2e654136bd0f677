import json

from django import forms

from departments.models import Department
from routing import builder
from routing.models import Rule
from routing.rules import RuleError, rule_compile, rule_row_errors

CONDITIONS_HELP = (
    'A JSON list. Examples: {"field": "body", "op": "contains_any", "value": ["refund", '
    '"charged twice"]} · {"field": "body", "op": "regex", "value": "order\\\\s*#\\\\d+"} · '
    '{"field": "source", "op": "in", "value": ["trustpilot"]} · {"field": "language", "op": '
    '"in", "value": ["de"]} · {"field": "sentiment", "op": "below", "value": -0.5} · '
    '{"field": "score", "department": "support", "op": "above", "value": 0.4} · '
    '{"field": "followers", "op": "above", "value": 10000} · {"field": "tag", "op": "has", '
    '"value": ["complaint"]}. Words and regexes ignore case; a regex uses RE2 syntax (no '
    "backreferences or lookaround), so no post can make it run long."
)
ACTIONS_HELP = (
    'A JSON list. {"type": "route_to", "department": "support"} · {"type": "never_route_to", '
    '"department": "marketing"} · {"type": "set_priority", "priority": "urgent"} · '
    '{"type": "add_tag", "tag": "promo"} · {"type": "stop"}'
)


class RuleJSONField(forms.JSONField):
    """JSON that PostgreSQL can store, shown back with \\u escapes: JSON can spell NUL and
    lone surrogates ("\\ud800"), which jsonb refuses and UTF-8 cannot encode."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        # json.loads raises more than JSONDecodeError: "[[[[…" thousands deep, an integer
        # of more than 4,300 digits.
        except (RecursionError, ValueError) as exc:
            raise forms.ValidationError("Enter valid JSON.", code="invalid") from exc

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        # Indented so a rule of several conditions reads one per line in the textarea.
        return json.dumps(value, ensure_ascii=True, indent=1, cls=self.encoder)

    def validate(self, value):
        super().validate(value)
        text = json.dumps(value, ensure_ascii=False)
        if "\\u0000" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
            raise forms.ValidationError("Text may not contain NUL or lone surrogate characters.")


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    # The column is a PostgreSQL integer.
    position = forms.IntegerField(
        min_value=0, max_value=2_147_483_647, initial=100, help_text="Lower runs first."
    )
    enabled = forms.BooleanField(required=False, initial=True)
    match = forms.ChoiceField(choices=Rule.Match.choices, initial=Rule.Match.ALL)
    conditions = RuleJSONField(help_text=CONDITIONS_HELP, widget=forms.Textarea({"rows": 6}))
    actions = RuleJSONField(help_text=ACTIONS_HELP, widget=forms.Textarea({"rows": 4}))
    limit = forms.IntegerField(
        min_value=10,
        max_value=20_000,
        initial=1000,
        required=False,
        help_text="Dry run over this many of the latest routed items.",
    )

    def __init__(self, data=None, *args, rule: Rule | None = None, **kwargs):
        self.rule = rule
        # The rows and the JSON view post the same rule: take the one the person changed.
        self.resolved = builder.post_resolve(data) if data is not None else None
        if self.resolved is not None:
            data = self.resolved.data
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": rule.name,
                "position": rule.position,
                "enabled": rule.enabled,
                "match": rule.match,
                # The lists themselves: the field encodes them (prepare_value); a string
                # here would be encoded a second time and come back as a JSON string.
                "conditions": rule.conditions,
                "actions": rule.actions,
            }
        elif "initial" not in kwargs:
            kwargs["initial"] = {
                "conditions": [builder.NEW_CONDITION],
                "actions": [builder.NEW_ACTION],
            }
        super().__init__(data, *args, **kwargs)

    @property
    def rearranged(self) -> bool:
        """A row was added or removed: show the rule again rather than save it."""
        return bool(self.resolved and self.resolved.rearranged)

    def builder(self) -> dict:
        """The rows of the builder for the rule as the form now holds it, each with its
        own error once the form was posted."""
        departments = list(Department.objects.order_by("name").values_list("slug", "name"))
        slugs = [slug for slug, _ in departments]
        extra = {"departments": departments, "department_slugs": slugs, "fresh": None}
        if not self.is_bound:
            rows = builder.builder_rows(self.initial["conditions"], self.initial["actions"])
            return {**rows, **extra, "group_errors": {}}
        lists = builder.json_lists(self.data)
        if lists is None:  # the JSON does not parse: keep the rows as they were posted
            lists = builder.rows_posted(self.data) or ([], [])
        conditions, actions = lists
        errors = rule_row_errors(conditions=conditions, actions=actions, departments=slugs)
        if fresh := self.resolved.fresh:
            errors[fresh[0]].pop(fresh[1], None)
            extra["fresh"] = fresh
        group_errors = {
            name: [e for e in self.errors.get(name, []) if not builder.ROW_ERROR.match(e)]
            for name in ("conditions", "actions")
        }
        rows = builder.builder_rows(conditions, actions, errors)
        return {**rows, **extra, "group_errors": group_errors}

    def clean(self):
        data = super().clean()
        if not self.errors:
            self.compiled = rule_form_check(self, pk=self.rule.pk if self.rule else None)
        return data


def rule_form_check(form: forms.BaseForm, *, pk: int | None):
    """Compile the rule in a valid form's cleaned data (the same check the workers make
    when they load rules) or add the error under the field it is about, the conditions
    say, as for a JSON error. Returns the compiled rule, or None."""
    data = form.cleaned_data
    try:
        return rule_compile(
            pk=pk,
            name=data["name"],
            match=data["match"],
            conditions=data["conditions"],
            actions=data["actions"],
            departments=Department.objects.values_list("slug", flat=True),
        )
    except RuleError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        return None
