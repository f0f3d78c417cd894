"""The scratch redis-server that counts and proves sessions snapshots: a real one, on a Unix socket
only its user may open and on no TCP port (the snapshot holds people's sessions)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backups.scratch_redis import ScratchRedisError, key_counts, scratch_server


def test_the_scratch_server_loads_a_snapshot_on_a_socket_only_its_user_opens_and_on_no_port(tmp_path):
    rdb = tmp_path / "dump.rdb"
    with scratch_server(rdb) as scratch:  # no file yet: an empty server
        socket_path = Path(scratch.connection_pool.connection_kwargs["path"])
        assert scratch.config_get("port") == {"port": "0"}  # no TCP listener at all
        assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(socket_path.parent).st_mode) == 0o700
        scratch.mset({f"session:{i}": "x" for i in range(7)})
        scratch.save()  # an explicit SAVE writes the file the test loads next
    assert not socket_path.parent.exists()  # the server's folder goes with it

    with scratch_server(rdb) as again:
        assert key_counts(again) == {"0": 7}


def test_a_file_that_is_not_a_snapshot_is_refused_with_the_servers_reason(tmp_path):
    rdb = tmp_path / "dump.rdb"
    rdb.write_bytes(b"REDIS0011 not really")
    with pytest.raises(ScratchRedisError, match="refused the snapshot"), scratch_server(rdb):
        pass
