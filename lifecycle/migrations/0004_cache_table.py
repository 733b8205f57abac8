"""The database cache table (used when there is no Redis), created by migrate like every other table."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0003_audit_rows_are_immutable")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
