"""Event.time_basis: where event_time came from (CloudEvents `time` is optional).

Events stored without a time (INTAKE_REQUIRE_TIME=0 allowed it) get their receipt time,
marked as such, so every event has a business time and says where it came from.
"""

from django.db import migrations, models


def mark_receipt_times(apps, schema_editor):
    Event = apps.get_model("integrations", "Event")
    Event.objects.filter(event_time__isnull=True).update(
        event_time=models.F("received_at"), time_basis="receipt"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_capture_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="time_basis",
            field=models.CharField(
                choices=[("event", "CloudEvents time"), ("data", "time in the data"), ("receipt", "time of receipt")],
                default="event",
                db_default="event",
                help_text="Whether event_time is the CloudEvents time, the contract's own time field, or our receipt.",
                max_length=8,
            ),
        ),
        migrations.RunPython(mark_receipt_times, migrations.RunPython.noop),
    ]
