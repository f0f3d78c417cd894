"""Ports for the servers the platform starts itself (a restored PostgreSQL, a scratch Redis)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now, as the kernel picks one for ``host``. Another process may
    still take it before the caller's server binds it: a caller that can, binds port 0 itself."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
