"""Reading e-mail replies in child processes, so that no message holds the event loop.

Parsing is CPU work under the GIL: in a thread it still starves the event loop (twelve hostile
replies at once held /healthz for 5.7 s, one answer a 503). `ReplyReaders` keeps `count`
child processes (`reply_worker`), each reading one message at a time; a message waits its
turn for a free one. Failures:

    a reader takes over `deadline` seconds   → it is killed and replaced; the message is read
                                               as unreadable (an empty first line)
    a reader dies, or cannot be started      → it is replaced; `ReplyReadError` is raised
    the read is cancelled                    → the reader is killed and replaced
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from types import TracebackType
from typing import Final, Self

import structlog

from notifier.errors import NotifierError
from notifier.inbound.email_reply import EmailReply
from notifier.inbound.reply_worker import LENGTH_BYTES, decode_reply, frame

log = structlog.get_logger(__name__)

DEADLINE_SECONDS: Final = 10.0
"""The longest one message may take: a hostile megabyte takes well under a second."""
_EXIT_SECONDS: Final = 2.0


class ReplyReadError(NotifierError):
    """A reader process died, or could not be started, while a message was being read."""


class ReplyReaders:
    """`count` reader processes reading at most `max_parts` parts of each message.

    An async context manager: the processes start on entry and stop on exit.
    """

    def __init__(self, count: int, max_parts: int, deadline: float = DEADLINE_SECONDS) -> None:
        self._count = count
        self._max_parts = max_parts
        self._deadline = deadline
        self._free: asyncio.Queue[asyncio.subprocess.Process | None] = asyncio.Queue()
        self._processes: set[asyncio.subprocess.Process] = set()

    async def __aenter__(self) -> Self:
        for _ in range(self._count):
            self._free.put_nowait(await self._spawn())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        processes, self._processes = list(self._processes), set()
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()  # a reader exits at the end of its input
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), _EXIT_SECONDS)
            except TimeoutError:
                _kill(process)
                await process.wait()

    async def read(self, raw: bytes) -> EmailReply:
        """What the message `raw` says, read by a free reader process."""
        process = await self._free.get()
        try:
            if process is None:
                process = await self._spawn()
            async with asyncio.timeout(self._deadline):
                reply = await _exchange(process, raw)
        except TimeoutError:  # (an OSError: caught first)
            _kill(process)
            process = None
            log.warning("inbound_email_unreadable", reason="deadline", seconds=self._deadline)
            return EmailReply("", None, None)
        except (OSError, ValueError, asyncio.IncompleteReadError) as error:
            _kill(process)
            process = None
            raise ReplyReadError(str(error) or type(error).__name__) from error
        except BaseException:
            _kill(process)
            process = None
            raise
        finally:
            # A killed reader's place (None) gets a new reader when next needed.
            self._free.put_nowait(process)
        return reply

    async def _spawn(self) -> asyncio.subprocess.Process:
        self._processes = {known for known in self._processes if known.returncode is None}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "notifier.inbound.reply_worker",
            str(self._max_parts),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal is the daemon's to handle
        )
        self._processes.add(process)
        return process


async def _exchange(process: asyncio.subprocess.Process, raw: bytes) -> EmailReply:
    """Send one message to a reader and read its reply."""
    assert process.stdin is not None and process.stdout is not None  # both are pipes
    process.stdin.write(frame(raw))
    await process.stdin.drain()
    header = await process.stdout.readexactly(LENGTH_BYTES)
    return decode_reply(await process.stdout.readexactly(int.from_bytes(header, "big")))


def _kill(process: asyncio.subprocess.Process | None) -> None:
    """Kill a reader left in an unknown state (mid-message), if there is one."""
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
