"""Browser journeys use the `worker` fixture of tests/conftest.py and the helpers in tests/workers.py."""
