"""The model-type groups live in one plain module that the trainers can import without Django."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_groups_import_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import sys, lifecycle.model_types, lifecycle.trainers; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def test_every_grouped_type_is_a_model_type():
    from lifecycle import model_types
    from lifecycle.choices import ModelType

    grouped = model_types.TABULAR_TYPES | model_types.CONTINUOUS_TYPES | {model_types.EXTERNAL_TYPE}
    assert grouped == set(ModelType.values)
    assert not model_types.TABULAR_TYPES & model_types.CONTINUOUS_TYPES
    assert model_types.CELL_TYPES < model_types.CONTINUOUS_TYPES
