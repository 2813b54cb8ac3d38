"""A monitor read by running a command every period: the Raspberry Pi 5's PMIC through
``vcgencmd pmic_read_adc``.

Each run's standard output is one record for the profile's parser; a blank line is added after it
so that line framings end the record there (and a ``--raw`` capture replays the same way). The URL,
when given, is the command line to run instead of the profile's (``"ssh pi5 vcgencmd pmic_read_adc"``).
Spawning a process costs tens of milliseconds on a Pi, so a few readings a second is the most to ask.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

from ..parsers import make_parser
from ..profiles import MonitorProfile
from ..samples import Sample
from .polled import PolledReader, ReadingFailed
from .port import ChunkCallback, EventCallback, PortError

END_OF_RECORD = b"\n\n"


class CommandReader(PolledReader):
    """Runs the profile's command every ``period_s``; its output goes to the parser as one record."""

    def __init__(self, url: str, profile: MonitorProfile, on_chunk: ChunkCallback, on_event: EventCallback, *,
                 backoff: tuple[float, float] = (0.1, 5.0)) -> None:
        self.argv = shlex.split(url) if url else list(profile.transport.command)
        super().__init__(" ".join(self.argv), on_chunk, on_event, period_s=profile.transport.period_s,
                         backoff=backoff)
        self.profile = profile
        self.timeout_s = max(2.0, 4 * profile.transport.period_s)

    def connect(self) -> None:
        """Run the command once: it must exist, succeed, and print at least one record the profile reads."""
        if shutil.which(self.argv[0]) is None:
            raise PortError(self.argv[0], f"command not found (the {self.profile.name} profile runs "
                            f"{shlex.join(self.profile.transport.command)})")
        try:
            output = self.read()
        except ReadingFailed as exc:
            raise PortError(self.url, str(exc)) from None
        parser = make_parser(self.profile)
        events = parser.feed(output or b"", 0.0, 0.0) + parser.finish(0.0, 0.0)
        if not any(isinstance(e, Sample) for e in events):
            first = (output or b"").decode(errors="replace").strip().splitlines()[:1]
            raise PortError(self.url, f"printed nothing the {self.profile.name} profile can read"
                            + (f" ({first[0][:80]!r})" if first else " (no output)")
                            + (f"; {self.profile.description}" if self.profile.description else ""))

    def read(self) -> bytes | None:
        try:
            done = subprocess.run(self.argv, capture_output=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ReadingFailed(f"no answer within {self.timeout_s:.0f} s") from None
        except OSError as exc:
            raise ReadingFailed(f"could not run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[:1]
            raise ReadingFailed(f"exited with status {done.returncode}" + (f": {why[0][:120]}" if why else ""))
        return done.stdout.rstrip(b"\n") + END_OF_RECORD
