"""Shared fixtures. ``postgis_url``: a real, throwaway PostgreSQL + PostGIS server (tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgis_server() -> Iterator:
    """Start one PostgreSQL + PostGIS server for the session (skips if not installed)."""
    import pg

    reason = pg.missing()
    if reason:
        pytest.skip(reason)
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgis_url(postgis_server) -> str:
    """URL of a database with PostGIS enabled on the session's throwaway server."""
    return postgis_server.url
