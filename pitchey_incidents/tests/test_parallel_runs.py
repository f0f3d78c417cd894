"""Parallel runs (``make test``): each pytest-xdist worker's Redis databases, from the configured ones."""

from __future__ import annotations

import pytest

from pitchey_incidents.testing import parallel_worker_env


def _envs(workers: int) -> list[dict[str, str]]:
    return [parallel_worker_env(index, workers, databases=16) for index in range(workers)]


def test_each_worker_gets_the_configured_database_plus_its_index_and_a_scratch_one_of_its_own(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL = "redis://:pw@127.0.0.1:6379/0"
    settings.DRILL_REDIS_URL, settings.DRILL_REDIS_DB = "", 15
    first, second = _envs(2)
    assert first == {"CELERY_BROKER_URL": settings.REDIS_URL, "REDIS_URL": settings.REDIS_URL, "DRILL_REDIS_DB": "15"}
    url = "redis://:pw@127.0.0.1:6379/1"
    assert second == {"CELERY_BROKER_URL": url, "REDIS_URL": url, "DRILL_REDIS_DB": "14"}


def test_a_broker_and_pub_sub_on_different_databases_keep_every_worker_apart(settings):
    settings.CELERY_BROKER_URL, settings.REDIS_URL = "redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379?db=4"
    settings.DRILL_REDIS_URL, settings.DRILL_REDIS_DB = "", 11
    envs = _envs(3)
    used = [int(env[name].rsplit("/", 1)[1]) for env in envs for name in ("CELERY_BROKER_URL", "REDIS_URL")]
    assert used == [2, 4, 5, 7, 8, 10]  # each worker moved past the span (2-4) the first one covers
    assert [env["DRILL_REDIS_DB"] for env in envs] == ["11", "9", "6"]  # scratch ones skip those in use


def test_the_embedded_broker_needs_nothing_and_a_set_scratch_redis_is_kept(settings):
    settings.CELERY_BROKER_URL, settings.REDIS_URL = "filesystem://", ""
    assert _envs(2) == [{}, {}]
    settings.REDIS_URL, settings.DRILL_REDIS_URL = "redis://127.0.0.1:6379/3", "redis://127.0.0.1:7000/0"
    assert [env["REDIS_URL"] for env in _envs(2)] == ["redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/4"]
    assert all("DRILL_REDIS_DB" not in env for env in _envs(2))


def test_more_workers_than_the_server_has_databases_for_is_refused_naming_what_to_change(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL = "redis://127.0.0.1:6379/13"
    settings.DRILL_REDIS_URL, settings.DRILL_REDIS_DB = "", 15
    with pytest.raises(ValueError, match=r"need Redis databases 13-16 .* has 16: use a lower database number"):
        _envs(4)
    settings.CELERY_BROKER_URL = settings.REDIS_URL = "redis://127.0.0.1:6379/6"
    assert [env["DRILL_REDIS_DB"] for env in _envs(8)] == ["15", "14", "5", "4", "3", "2", "1", "0"]
    with pytest.raises(ValueError, match="and 9 scratch ones"):
        _envs(9)  # databases 6-14 for the workers leave seven
