"""The admin says "export batches" through the model options (a label only: no schema change)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0008_exportline_unmatched_charges'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='exportbatch',
            options={'ordering': ['-created_at', '-id'], 'verbose_name_plural': 'export batches'},
        ),
        migrations.AlterModelOptions(
            name='historicalexportbatch',
            options={'get_latest_by': ('history_date', 'history_id'), 'ordering': ('-history_date', '-history_id'), 'verbose_name': 'historical export batch', 'verbose_name_plural': 'historical export batches'},
        ),
    ]
