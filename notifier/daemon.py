"""`notifier serve`: run the daemon's parts together, and stop them cleanly on SIGTERM or SIGINT.

The first signal sets one event: the HTTP server stops accepting, finishes the requests under
way within `http.shutdown_grace_seconds`, and the process exits 0. A second signal cancels
everything at once and the process exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack

import structlog
import uvicorn

from notifier.cap_feed_poller import CapFeedPoller, feeds_lock
from notifier.channel_health import ChannelHealth
from notifier.channels.base import EmailChannel, SmsChannel, VoiceChannel
from notifier.channels.configured import email_channel, sms_channel, voice_channel
from notifier.clock import Clock, SystemClock
from notifier.dispatch.dispatcher import Dispatcher, configured_lanes
from notifier.dispatch.escalator import Escalator
from notifier.dispatch.rendering import MessageFactory
from notifier.drill_scheduler import DrillScheduler
from notifier.errors import ConfigError
from notifier.inbound.answer_intake import AnswerIntake
from notifier.inbound.email_answers import inbound_listener
from notifier.inbound.smtp_listener import MAX_SESSIONS
from notifier.messages import Templates, load_templates, templates_location
from notifier.open_files import http_connection_budget, raise_open_file_limit
from notifier.settings import Settings
from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.scheduler_lock import scheduler_lock
from notifier.web.app import create_app
from notifier.web.connection_limits import BoundedServer
from notifier.web.metrics import SendMetrics
from notifier.web.server_warnings import hold_back_server_warnings

log = structlog.get_logger(__name__)

_RESERVED_FILES = 128
"""Open files needed besides connections: the database's, standard streams, listening
sockets, the reply readers' pipes, Python's own."""


class _HttpServer(BoundedServer):
    """uvicorn, minus its own signal handling: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_socket(host: str, port: int) -> socket.socket:
    """The HTTP socket, bound before anything starts, so a port in use is one clear line.

    With TCP_NODELAY, which the connections it accepts inherit: asyncio sets it only on
    sockets it made itself, and without it an answer written in two parts (head, then body)
    waits for the client's delayed acknowledgement, 40 ms on Linux, on every request.
    """
    try:
        listening = socket.create_server((host, port), reuse_port=False)
    except OSError as error:
        raise ConfigError(
            f"configuration error: http: cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listening


class Daemon:
    """The running notifier: its database, HTTP server, and the loops later parts add."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.stopping = asyncio.Event()
        self.interrupted = False

    def request_stop(self, signal_name: str) -> None:
        """First call: drain and stop. Second call: stop at once."""
        if self.stopping.is_set():
            log.warning("daemon_interrupted", signal=signal_name)
            self.interrupted = True
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            return
        log.info("daemon_stopping", signal=signal_name)
        self.stopping.set()

    async def run(self) -> int:
        """Run until stopped; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        try:
            async with AsyncExitStack() as stack:
                database = await stack.enter_async_context(
                    Database.open(
                        self.settings.database.url, pool_size=self.settings.database.pool_size
                    )
                )
                await schema.require_current(database)
                templates = load_templates(templates_location(self.settings.messages.templates_dir))
                email = await stack.enter_async_context(email_channel(self.settings))
                sms = await stack.enter_async_context(sms_channel(self.settings))
                calls = voice_channel(self.settings)
                voice = None if calls is None else await stack.enter_async_context(calls)
                await self._serve(database, templates, email, sms, voice)
        except asyncio.CancelledError:
            if not self.interrupted:
                raise
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("daemon_stopped", interrupted=self.interrupted)
        return 1 if self.interrupted else 0

    async def _serve(
        self,
        database: Database,
        templates: Templates,
        email: EmailChannel,
        sms: SmsChannel,
        voice: VoiceChannel | None,
    ) -> None:
        settings = self.settings
        metrics = SendMetrics()
        lanes = configured_lanes(settings, email=email, sms=sms, voice=voice)
        health = ChannelHealth([lane.channel for lane in lanes])
        worker = worker_id()
        dispatcher = Dispatcher(
            database,
            lanes,
            MessageFactory(templates, settings),
            settings.dispatch,
            self.clock,
            worker,
            observe=metrics.observe,
            health=health,
        )
        answers = AnswerIntake(database, templates, self.clock)
        app = create_app(
            database,
            settings,
            clock=self.clock,
            wake_dispatcher=dispatcher.wake,
            wake_senders=dispatcher.wake_senders,
            metrics=metrics,
            templates=templates,
            channel_health=health,
            answers=answers,
        )
        http = settings.http
        config = uvicorn.Config(
            app,
            host=http.host,
            port=http.port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(http.shutdown_grace_seconds),
            server_header=False,
            http="h11",
            ws="none",
        )
        hold_back_server_warnings()  # one per bad request would let anyone flood the log
        # Not uvicorn's `limit_concurrency` nor `timeout_keep_alive`: see connection_limits.
        server = _HttpServer(
            config,
            max_connections=_http_connections(settings),
            idle_seconds=http.keep_alive_seconds,
            body_seconds=http.body_seconds,
        )
        listening = http_socket(http.host, http.port)
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(listening.close)
            if settings.email.inbound.enabled:
                listener = inbound_listener(database, settings, self.clock, answers)
                await stack.enter_async_context(listener)
            await self._run_loops(
                server,
                listening,
                dispatcher,
                Escalator(
                    database,
                    templates,
                    settings.escalation,
                    self.clock,
                    dispatcher.wake,
                    alert_settings=settings.alerts,
                    voice=voice is not None,
                ),
                DrillScheduler(
                    database,
                    templates,
                    settings.drills,
                    self.clock,
                    scheduler_lock(database, worker),
                    dispatcher.wake,
                ),
                CapFeedPoller(
                    database, settings, self.clock, feeds_lock(database, worker), dispatcher.wake
                ),
            )

    async def _run_loops(
        self,
        server: uvicorn.Server,
        listening: socket.socket,
        dispatcher: Dispatcher,
        escalator: Escalator,
        drills: DrillScheduler,
        feeds: CapFeedPoller,
    ) -> None:
        grace = self.settings.http.shutdown_grace_seconds
        async with asyncio.TaskGroup() as tasks:
            serving = tasks.create_task(server.serve(sockets=[listening]))
            await self._started(server, serving, listening)
            tasks.create_task(dispatcher.run(self.stopping, grace))
            tasks.create_task(escalator.run(self.stopping))
            tasks.create_task(drills.run(self.stopping))
            tasks.create_task(feeds.run(self.stopping))
            await self.stopping.wait()
            server.should_exit = True

    async def _started(
        self, server: uvicorn.Server, serving: asyncio.Task[None], listening: socket.socket
    ) -> None:
        # uvicorn only offers a flag for "listening", so poll it briefly.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if server.started:
            # The address bound, with the port the system chose when `http.port` is 0.
            host, port = listening.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            log.info(
                "daemon_started",
                listening=f"http://{shown}:{port}",
                public_url=self.settings.http.public_url,
            )
        else:
            self.stopping.set()


def _http_connections(settings: Settings) -> int:
    """`http.max_connections`, lowered where the open-file limit cannot hold it beside the rest."""
    open_files = raise_open_file_limit()
    reserved = (
        _RESERVED_FILES
        + settings.database.pool_size
        + settings.email.pool_size
        + settings.sms.concurrency
    )
    if settings.email.inbound.enabled:
        reserved += MAX_SESSIONS
    budget = http_connection_budget(settings.http.max_connections, open_files, reserved)
    if budget < settings.http.max_connections:
        log.warning("http_connections_lowered", max_connections=budget, open_files=open_files)
    return budget


def worker_id() -> str:
    """This process's name on the leases it takes: host, process id and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"[:64]


def serve(settings: Settings) -> int:
    """Run the daemon in a new event loop; the process's exit status."""
    return asyncio.run(Daemon(settings).run())
