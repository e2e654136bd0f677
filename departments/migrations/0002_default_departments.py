from datetime import timedelta

from django.db import migrations

# The four departments every organisation starts with. HR is sealed: what is routed only
# to HR (job applications, employee remarks) is not shown to the other departments.
DEFAULTS = [
    ("product", "Product", "#1e88e5", False, timedelta(hours=24), timedelta(days=14)),
    ("support", "Support", "#43a047", False, timedelta(hours=2), timedelta(days=2)),
    ("hr", "HR", "#8e24aa", True, timedelta(hours=24), timedelta(days=7)),
    ("marketing", "Marketing", "#fb8c00", False, timedelta(hours=8), timedelta(days=3)),
]


def create_departments(apps, schema_editor):
    Department = apps.get_model("departments", "Department")
    for slug, name, colour, sealed, first_response, resolution in DEFAULTS:
        Department.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "colour": colour,
                "sealed": sealed,
                "first_response_sla": first_response,
                "resolution_sla": resolution,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("departments", "0001_initial")]

    operations = [migrations.RunPython(create_departments, migrations.RunPython.noop)]
