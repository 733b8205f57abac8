from django.db import migrations


def create_defaults(apps, schema_editor):
    from scoring.choices import DEFAULT_OUTCOME_TYPES

    OutcomeType = apps.get_model("scoring", "OutcomeType")
    for ordinal, (key, name, classification, category) in enumerate(DEFAULT_OUTCOME_TYPES):
        OutcomeType.objects.get_or_create(key=key, defaults={
            "name": name, "classification": classification, "category": category, "is_system": True,
            "ordinal": ordinal})


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
