from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle', '0009_activate_version_permission'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelversion',
            name='input_schema',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
