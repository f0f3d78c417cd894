"""What a Redis broker needs of us: the patch for kombu's Redis transport that lets a worker outlive a
Redis outage. Loaded by ``pitchey_incidents.celery`` when the broker is Redis."""

from __future__ import annotations

import logging

import redis
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

# A worker died for good when Redis went away while it held unacknowledged messages (a running task
# under acks_late, or a countdown it was waiting on): on the connection loss Celery collects the
# broker connection, which drops the transport's client, and closing a channel afterwards tries to
# put its unacknowledged messages back through that transport: AttributeError("'NoneType' object has
# no attribute 'hostname'") in kombu's redis QoS.restore_unacked → Channel._connparams, an
# "Unrecoverable error", and the process exits. Upstream: celery/kombu#582 (the same AttributeError
# from _connparams once the transport is gone) and celery/kombu#970 (restore_unacked on a closing
# channel); still present in kombu 5.7.0. With the broker gone there is nothing to restore them
# through: the messages stay in Redis's unacked set (restored after the visibility timeout, if Redis
# kept them) and the rows they carry ids of are redispatched by the sweepers; so we skip, and say so.
UNPATCHED_RESTORE_UNACKED = kombu_redis.QoS.restore_unacked


def restore_unacked_or_leave(self: kombu_redis.QoS, client=None) -> None:
    transport = self.channel.connection
    try:
        if client is not None or (transport is not None and transport.client is not None):
            return UNPATCHED_RESTORE_UNACKED(self, client)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:  # the broker is down: same answer
        log.debug("restoring unacknowledged messages failed: %r", exc)
    if self._delivered:
        log.warning(
            "broker connection gone: %d unacknowledged message(s) left to the broker's visibility timeout",
            len(self._delivered),
        )
    self._delivered.clear()


kombu_redis.QoS.restore_unacked = restore_unacked_or_leave
