"""What we back up. With nothing configured: the platform's own database and media."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connections

from pitchey_incidents.targets import libpq_url


def database_url() -> str:
    """``TARGET_DATABASE_URL``, else the database this process is really connected to."""
    if settings.TARGET_DATABASE_URL:
        return libpq_url(settings.TARGET_DATABASE_URL)
    conf = connections["default"].settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    auth = quote(conf.get("USER") or "", safe="")
    if conf.get("PASSWORD"):
        auth += ":" + quote(conf["PASSWORD"], safe="")
    host = conf.get("HOST") or "localhost"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgresql://{auth + '@' if auth else ''}{host}{port}/{quote(conf['NAME'], safe='')}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def sqlite_path(url: str) -> Path:
    return Path(unquote(url[len("sqlite:///") :])) if url.startswith("sqlite:///") else Path(url)


def redact_url(url: str) -> str:
    """The URL without its password, for manifests, pages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def split_password(url: str) -> tuple[str, str]:
    """(URL without password, password): the pg_* tools get the password via PGPASSWORD, never argv."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, ""
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}@{host}")), unquote(parts.password)


def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def media_dir() -> Path:
    return Path(settings.MEDIA_DIR or settings.MEDIA_ROOT)


def config_paths() -> list[Path]:
    return [Path(p) for p in settings.CONFIG_PATHS]


def target_keys(kind: str) -> list[str]:
    """Lock keys: two backups sharing one of these never run at once."""
    keys = {
        "database": [f"database:{redact_url(database_url())}"],
        "config": ["config"],
        "media": [f"media:{media_dir()}"],
        "sessions": [f"sessions:{redact_url(settings.TARGET_REDIS_URL)}"],
        "basebackup": [f"pitr:{redact_url(settings.PITR_DATABASE_URL)}"],
        "wal": [],  # segments are shipped one at a time by the one receiver
    }
    if kind == "full":
        return keys["database"] + keys["config"] + keys["media"]
    return keys[kind]
