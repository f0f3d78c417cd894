"""Fixtures for the HTML views: a browser-like client logged in as a given role."""

import pytest
from django.test import Client

from incidents import services


@pytest.fixture
def page(users):
    """``page(role)`` → a Django test client logged in as that role's user (``None`` = anonymous)."""

    def client(role, **kwargs) -> Client:
        c = Client(**kwargs)
        if role:
            c.force_login(users[role])
        return c

    return client


@pytest.fixture
def incident(users):
    return services.incident_declare(
        severity="P1", title="High error rate on the API", services=["api"], actor=users["commander"]
    )
