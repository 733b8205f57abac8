"""Idempotency keys scoped per caller and endpoint, with a hash of the request they answered.

Existing rows stay as they are: keys were unique on their own, so they are unique per (no actor, scope, key)
too; they keep no actor and no hash and no later call matches them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0003_trace_family'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='interaction',
            name='actor',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='interaction',
            name='request_hash',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddField(
            model_name='interaction',
            name='scope',
            field=models.CharField(default='respond', max_length=32),
        ),
        migrations.AlterField(
            model_name='interaction',
            name='idempotency_key',
            field=models.CharField(max_length=255),
        ),
        migrations.AddConstraint(
            model_name='interaction',
            constraint=models.UniqueConstraint(fields=('actor', 'scope', 'idempotency_key'), name='interaction_idempotency_per_actor'),
        ),
    ]
