"""Where the teacher's OpenAI-compatible server lives, and the key it wants.

The Airflow connection ``http.conn_id`` wins when Airflow is importable and knows it
(from the metastore, a secrets backend or an ``AIRFLOW_CONN_<ID>`` env var in JSON or
URI form). Otherwise ``http.base_url`` is used with the key read from the env var
``http.api_key_env``. The key is never logged and never shown by ``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from maga.config import HTTPBackendConfig
from maga.connections import airflow_connection
from maga.log import get_logger

log = get_logger("llm.connection")

DEFAULT_PATH = "v1"  # OpenAI-compatible servers (vllm serve) answer under /v1


@dataclass(frozen=True)
class Endpoint:
    """Base URL (ending in ``/v1`` for vLLM) and an optional bearer key."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return f"Endpoint(base_url={_redact_userinfo(self.base_url)!r}, api_key={key})"

    __str__ = __repr__


def _redact_userinfo(url: str) -> str:
    """Hide ``user:password@`` in a URL, should one have been configured that way."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _url_from_connection(conn: Any) -> str | None:
    """``scheme://host[:port]/schema``; schema is the path (``v1`` when empty)."""
    host = (conn.host or "").strip()
    if not host:
        return None
    scheme = "https" if (conn.conn_type or "").lower() == "https" else "http"
    path = (conn.schema or "").strip().strip("/")
    if path in {"http", "https"}:  # HttpHook's habit: schema holds the URL scheme
        scheme, path = path, ""
    if "://" in host:  # host given as a full URL: keep its scheme and path
        parts = urlsplit(host)
        scheme, host = parts.scheme, parts.netloc
        path = path or parts.path.strip("/")
    has_port = ":" in host.rsplit("]", 1)[-1]  # "]" ends an IPv6 literal
    netloc = f"{host}:{conn.port}" if conn.port and not has_port else host
    return f"{scheme}://{netloc}/{path or DEFAULT_PATH}"


def _env_key(cfg: HTTPBackendConfig) -> str | None:
    return os.environ.get(cfg.api_key_env) or None


def resolve_endpoint(cfg: HTTPBackendConfig) -> Endpoint:
    """Endpoint from the Airflow connection ``cfg.conn_id``, else from ``cfg.base_url``.

    A connection's password is the API key (the env var ``cfg.api_key_env`` fills in
    when it has none). Raises ValueError when neither source gives a URL.
    """
    if cfg.conn_id:
        conn = airflow_connection(cfg.conn_id)
        if conn is not None:
            url = _url_from_connection(conn)
            if url:
                key = conn.password or _env_key(cfg)
                endpoint = Endpoint(url.rstrip("/"), key)
                log.info("teacher endpoint from Airflow connection %r: %s", cfg.conn_id, endpoint)
                return endpoint
            log.warning("Airflow connection %r has no host; trying http.base_url", cfg.conn_id)
    if cfg.base_url:
        endpoint = Endpoint(cfg.base_url.strip().rstrip("/"), _env_key(cfg))
        log.info("teacher endpoint from http.base_url: %s", endpoint)
        return endpoint
    where = (
        f"Airflow connection conn_id={cfg.conn_id!r} was not found (or has no host)"
        if cfg.conn_id
        else "no Airflow connection is configured (conn_id=None)"
    )
    raise ValueError(f"no teacher endpoint: {where} and http.base_url is not set")
