"""Packets of chosen TCP connections dropped on the loopback interface, as by a firewall or a
NAT that forgot them: the connections go silent, new ones pass.

Made with tc (iproute2), which needs root: an HTB root queue on `lo` that lets every packet
through untouched (`default 0`), and a class whose queue holds none, into which a u32 filter
sends the chosen connections' packets. The queue is removed on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

DEVICE = "lo"
MISSING = "silencing a connection needs tc (iproute2) and root"
_ESTABLISHED = "01"


def tc(*arguments: str) -> None:
    """Run `tc` with `arguments`; CalledProcessError with what it said when it fails."""
    subprocess.run(["tc", *arguments], check=True, capture_output=True, text=True)


class Blackhole:
    """While entered, `silence` makes connections drop every packet they send."""

    def __enter__(self) -> Self:
        if shutil.which("tc") is None or os.geteuid() != 0:
            _missing(MISSING)
        try:
            tc("qdisc", "replace", "dev", DEVICE, "root", "handle", "1:", "htb", "default", "0")
        except subprocess.CalledProcessError as error:
            _missing(f"{MISSING}: {error.stderr.strip()}")
        try:
            tc(
                "class",
                "add",
                "dev",
                DEVICE,
                "parent",
                "1:",
                "classid",
                "1:2",
                "htb",
                "rate",
                "8bit",
            )
            tc(
                "qdisc",
                "add",
                "dev",
                DEVICE,
                "parent",
                "1:2",
                "handle",
                "2:",
                "pfifo",
                "limit",
                "0",
            )
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove()

    def silence(self, local_port: int, remote_port: int) -> None:
        """Drop every packet from `local_port` to `remote_port` (one direction is enough:
        nothing sent is acknowledged, nothing asked is answered)."""
        tc(
            "filter", "add", "dev", DEVICE, "parent", "1:", "protocol", "ip",
            "prio", "1", "u32",
            "match", "ip", "sport", str(local_port), "0xffff",
            "match", "ip", "dport", str(remote_port), "0xffff",
            "flowid", "1:2",
        )  # fmt: skip

    def _remove(self) -> None:
        subprocess.run(["tc", "qdisc", "del", "dev", DEVICE, "root"], capture_output=True)


def connections_to(pid: int, remote_port: int) -> list[int]:
    """The local ports of process `pid`'s established IPv4 connections to `remote_port`."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(descriptor.readlink())
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if (
            inode in inodes
            and state == _ESTABLISHED
            and int(remote.split(":")[1], 16) == remote_port
        ):
            ports.append(int(local.split(":")[1], 16))
    return ports


def _missing(reason: str) -> None:
    """A skip, or a failure in CI (where the tests run as root with iproute2)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
