"""On PostgreSQL, audit rows cannot be changed or deleted even by a plain UPDATE or DELETE."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION lifecycle_modelevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (lifecycle_modelevent)';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS lifecycle_modelevent_append_only ON lifecycle_modelevent;
CREATE TRIGGER lifecycle_modelevent_append_only BEFORE UPDATE OR DELETE ON lifecycle_modelevent
    FOR EACH ROW EXECUTE FUNCTION lifecycle_modelevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS lifecycle_modelevent_append_only ON lifecycle_modelevent;
DROP FUNCTION IF EXISTS lifecycle_modelevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0002_registry_columns")]
    operations = [migrations.RunPython(forwards, backwards)]
