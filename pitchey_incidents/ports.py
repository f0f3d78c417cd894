"""Ports for the servers the platform starts itself (a restored PostgreSQL, a scratch Redis)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now, as the kernel picks one for ``host``. Another process may
    still take it before the caller's server binds it: a caller that can, binds port 0 itself."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on (or holds) ``host``:``port`` now, as a server binding it would find."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers (postgres) bind
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
