"""A systemd unit that runs ``edge-runtime serve`` as the current user, restarted on failure."""

from __future__ import annotations

import getpass
import os
import shlex
import sys


def unit_file(argv: list[str], description: str) -> str:
    """The unit text for ``edge-runtime serve ARGV`` (without ``--print-systemd-unit``), absolute paths."""
    command = [sys.executable, "-m", "edge_runtime", "serve", *argv]
    return "\n".join([
        "[Unit]",
        f"Description={description}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={getpass.getuser()}",
        f"WorkingDirectory={os.getcwd()}",
        f"ExecStart={shlex.join(command)}",
        "Restart=on-failure",
        "RestartSec=2",
        "Environment=PYTHONUNBUFFERED=1",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])
