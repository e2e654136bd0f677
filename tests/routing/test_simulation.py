"""simulate_corrections: staff decisions through the case services, measured, rolled back."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from departments.models import Case, CaseEvent
from feedback.models import FeedbackItem
from routing.models import RoutingLabel

pytestmark = pytest.mark.django_db

PLACES = ["lobby", "hallway", "staircase", "garden", "entrance", "terrace", "kitchen", "bar"]
TIMES = ["every evening", "at night", "since Monday", "all weekend", "after midnight"]


def organisation_file(path):
    """One organisation's odd traffic: posts about flickering lamps belong to marketing
    there (the model has no reason to think so), posts about parking fees to HR."""
    rows = []
    for place in PLACES:
        for time in TIMES:
            rows.append((f"The lamp in the hotel {place} keeps flickering {time}", "marketing"))
            rows.append((f"The parking fee at the {place} car park went up {time}", "hr"))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "department", "source"])
        writer.writerows((text, dept, "hotel") for text, dept in rows)
    return path


def test_corrections_raise_coverage_and_leave_nothing_behind(tmp_path, capsys):
    data = organisation_file(tmp_path / "org.csv")
    call_command("simulate_corrections", "--data", str(data), "--corrections", "30", "--json")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["before"]) >= {"macro_f1", "auto_route_precision", "coverage"}
    assert result["corrections"] == 30 and result["evaluated"] == 50
    assert sum(result["actions"].values()) == 30
    assert result["after"]["coverage"] > result["before"]["coverage"] + 0.3
    assert result["after"]["auto_route_precision"] >= 0.9
    assert result["after"]["macro_f1"] > result["before"]["macro_f1"]
    # Rolled back: no post, case, event or label of the simulation is left.
    assert not FeedbackItem.objects.exists()
    assert not Case.objects.exists() and not CaseEvent.objects.exists()
    assert not RoutingLabel.objects.exists()


def test_source_filter_and_bad_arguments_are_clear_errors(tmp_path):
    data = organisation_file(tmp_path / "org.csv")
    with pytest.raises(CommandError, match="no rows of source 'nowhere'"):
        call_command("simulate_corrections", "--data", str(data), "--source", "nowhere")
    with pytest.raises(CommandError, match="--corrections must be between 1 and"):
        call_command("simulate_corrections", "--data", str(data), "--corrections", "500")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,department\nhello,sales\n")
    with pytest.raises(CommandError, match="line 2: unknown department"):
        call_command("simulate_corrections", "--data", str(bad))
