"""A note's event names the department the note was written in (`from_department`), so the
access layer hides a sealed department's note events with the same rule as its handoffs."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("departments", "0005_case_open_recent")]

    operations = [
        migrations.RunSQL(
            """
            UPDATE departments_caseevent e
               SET from_department_id = n.department_id
              FROM departments_note n
             WHERE e.kind = 'noted'
               AND e.from_department_id IS NULL
               AND e.data ? 'note'
               AND jsonb_typeof(e.data->'note') = 'number'
               AND n.id = (e.data->>'note')::bigint
            """,
            migrations.RunSQL.noop,
        ),
    ]
