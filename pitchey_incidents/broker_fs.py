"""The embedded broker (``filesystem://``, one machine and no Redis): kombu's filesystem transport,
except that a message file appears in the folder whole.

Kombu opens the message file in the folder the workers poll and then writes it, so a worker can move
and read it while it is still empty or half written, fail to decode it, and the task is lost with its
worker. Here the message is written under a name the readers skip (``….msg.part``) and renamed into
place, which is atomic on one filesystem."""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self) -> dict:
        """No host: a folder has none (kombu's virtual transports default to ``localhost``, and every
        look at the connection's details warned "No hostname was supplied")."""
        return {"port": self.default_port}
