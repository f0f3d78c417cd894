"""The stream hub: one read per wake-up for every stream, and no event skipped when ids commit
out of order (an id handed out earlier, committed later)."""

import asyncio

import pytest

from pitchey_incidents import stream
from pitchey_incidents.models import Event


def emit(kind="incident.declared", subject="incident:INC-00001", **fields) -> Event:
    return Event.objects.create(kind=kind, subject=subject, data={}, **fields)


@pytest.mark.django_db(transaction=True)
def test_an_id_that_commits_late_is_still_delivered():
    async def scenario():
        hub = stream.Hub()
        hub.cursor = (await asyncio.to_thread(emit)).id  # ids keep counting after a flush: start here
        first = await asyncio.to_thread(emit)
        later = await asyncio.to_thread(emit)
        # Pretend `first` had not committed yet when the hub read: hide it, read, then "commit" it.
        await asyncio.to_thread(lambda: Event.objects.filter(id=first.id).delete())
        await hub.refresh()
        assert [i.id for i in hub.since(0)] == [later.id]
        assert list(hub.gaps) == [first.id]
        await asyncio.to_thread(lambda: emit(id=first.id))
        await hub.refresh()
        assert [i.id for i in hub.since(1)] == [first.id]
        assert not hub.gaps
        await hub.refresh()  # nothing new: nothing delivered twice
        assert hub.seq == 2

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_waiters_wake_on_new_events_and_resume_from_the_buffer():
    async def scenario():
        hub = stream.Hub()
        hub.cursor = await stream.latest_id()
        waiter = asyncio.create_task(hub.wait(0, timeout=10))
        await asyncio.sleep(0)
        event = await asyncio.to_thread(emit)
        await hub.refresh()
        items = await asyncio.wait_for(waiter, 5)
        assert [i.id for i in items] == [event.id]
        assert "event: incident\n" in items[0].sse() and "event: INC-00001\n" in items[0].sse()
        assert items[0].sse().startswith(f"id: {event.id}\n")
        assert await hub.wait(hub.seq, timeout=0.05) == []  # heartbeat time, nothing new
        missed, seq = await stream.events_after(hub, event.id - 1)
        assert [i.id for i in missed] == [event.id] and seq == hub.seq

    asyncio.run(scenario())
