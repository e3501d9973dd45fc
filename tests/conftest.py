"""Shared fixtures. Each fixture module under tests/fixtures/ is a pytest plugin listed here."""

pytest_plugins: list[str] = ["tests.fixtures.mosquitto", "tests.fixtures.kafka_mock"]
