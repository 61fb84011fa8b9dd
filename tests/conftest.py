"""Shared fixtures: one real embedded broker for the Kafka tests, unique topic names."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from producer.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on 127.0.0.1 for the whole test session."""
    b = EmbeddedBroker()
    b.start()
    yield b
    b.stop()


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses."""
    return f"t-{secrets.token_hex(4)}"
