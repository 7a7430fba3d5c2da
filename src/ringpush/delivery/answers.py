"""APNs's answers to pushes, for the requests that wait on them (``POST /v1/calls``
answers with each device's first outcome) and for those that follow them all (the live
delivery log, ``GET /v1/deliveries/events``).

The instance that sent a push resolves its watchers in memory with the push's new row,
so a waiting request reads nothing from the database. Other instances hear of it through
the database's notifications (a request on A may wait on a push B sent): their watchers
learn only that it was answered, and read the rows then, in one query.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from ringpush.registry.database import Notifications
from ringpush.registry.outbox_models import OutboxPush

log = logging.getLogger(__name__)

#: Push ids answered by some instance, so a request waiting on another learns it.
ANSWERS_CHANNEL = "ringpush_push_answers"
#: PostgreSQL caps a notification at 8000 bytes; push ids are 36 characters.
ANSWERS_PER_MESSAGE = 150
#: Answers remembered, so a watch that starts after the answer still sees it.
RECENT_ANSWERS = 10_000

#: What a watcher gets: the push's row after the answer (this instance sent it), or None
#: (another instance did: read the row).
Answer = OutboxPush | None
#: Answers a follower may fall behind by before the newest are dropped (and counted).
FOLLOWER_BACKLOG = 10_000


class Follower:
    """One reader of every answer, in order: ``(push_id, answer)`` pairs. A reader too
    slow to keep up loses the newest rather than holding memory without bound; ``lost``
    counts them, so the reader can say so."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Answer]] = asyncio.Queue(FOLLOWER_BACKLOG)
        self.lost = 0

    def offer(self, push_id: str, answer: Answer) -> None:
        try:
            self.queue.put_nowait((push_id, answer))
        except asyncio.QueueFull:
            self.lost += 1


class PushAnswers:
    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications
        self._watchers: dict[str, list[asyncio.Future[Answer]]] = {}
        self._recent: OrderedDict[str, Answer] = OrderedDict()
        self._to_announce: list[str] = []
        self._announcing: set[asyncio.Task[None]] = set()
        self._followers: set[Follower] = set()

    async def listen(self) -> None:
        """Hear other instances' answers."""
        await self._notifications.listen(ANSWERS_CHANNEL, self._heard)

    def watch(self, push_id: str) -> asyncio.Future[Answer]:
        """A future resolved when an answer for ``push_id`` is recorded, here or (told
        through the database's notifications) by another instance."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        if push_id in self._recent:
            future.set_result(self._recent[push_id])
        else:
            self._watchers.setdefault(push_id, []).append(future)
        return future

    def follow(self) -> Follower:
        """Every answer from now on, this instance's and (told through the database's
        notifications) the others'; :meth:`unfollow` when done."""
        follower = Follower()
        self._followers.add(follower)
        return follower

    def unfollow(self, follower: Follower) -> None:
        self._followers.discard(follower)

    def unwatch(self, push_id: str, future: asyncio.Future[Answer]) -> None:
        """A watcher that gave up (its request timed out) is let go."""
        waiting = self._watchers.get(push_id)
        if waiting is not None:
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                del self._watchers[push_id]
        future.cancel()

    def answered(self, push: OutboxPush) -> None:
        """This instance recorded an answer (or a final outcome) for ``push``."""
        self._resolve(push.push_id, push)
        if not self._to_announce:
            asyncio.get_running_loop().call_soon(self._announce)
        self._to_announce.append(push.push_id)

    @property
    def watching(self) -> int:
        """Pushes someone waits on (a leak shows here)."""
        return len(self._watchers)

    async def close(self) -> None:
        """Wait for the announcements on their way."""
        if self._to_announce:
            self._announce()
        if self._announcing:
            await asyncio.gather(*self._announcing, return_exceptions=True)

    def _announce(self) -> None:
        """Tell the other instances which pushes were answered, in a few messages per
        loop turn rather than one per push."""
        ids, self._to_announce = self._to_announce, []
        for start in range(0, len(ids), ANSWERS_PER_MESSAGE):
            message = ",".join(ids[start : start + ANSWERS_PER_MESSAGE])
            task = asyncio.create_task(self._send(message))
            self._announcing.add(task)
            task.add_done_callback(self._announcing.discard)

    async def _send(self, message: str) -> None:
        try:
            await self._notifications.notify(ANSWERS_CHANNEL, message)
        except Exception:  # the waiting request times out and reads the row instead
            log.warning("could not announce push answers to the other instances")

    def _heard(self, message: str) -> None:
        for push_id in message.split(","):
            if push_id not in self._recent:
                self._resolve(push_id, None)

    def _resolve(self, push_id: str, answer: Answer) -> None:
        self._recent[push_id] = answer
        self._recent.move_to_end(push_id)
        if len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)
        for future in self._watchers.pop(push_id, ()):
            if not future.done():
                future.set_result(answer)
        for follower in self._followers:
            follower.offer(push_id, answer)
