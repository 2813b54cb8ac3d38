"""How both console scripts turn exceptions into one ``Error: …`` line and an exit code."""

from __future__ import annotations

import sys
import traceback
import warnings
from typing import Any, Callable

from ..errors import EdgeRuntimeError


def one_line_warnings() -> None:
    """Python warnings (from Pillow, NumPy, a library's deprecation) reach the terminal as one ``warning: …`` line,
    without the source line and site-packages path Python prints by default. For entry points only."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        text = str(message).strip().splitlines()
        print(f"warning: {text[0] if text else category.__name__}", file=file or sys.stderr)

    warnings.showwarning = show


def os_error_message(exc: OSError) -> str:
    """``path: reason`` for an OSError (disk full, permission denied, no such folder…)."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return f"{where}: {reason}" if where else reason


def run_guarded(handler: Callable[[], int], debug: bool) -> int:
    """Run ``handler``; report failures on stderr as click does.

    Our errors and OSErrors exit 1 with one line; Ctrl-C prints "Aborted!" and exits 130; a
    closed stdout pipe (``| head``) ends quietly; anything else is one line saying it was
    unexpected. Tracebacks only when ``debug``.
    """
    try:
        return handler()
    except KeyboardInterrupt:
        print("Aborted!", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away; nothing more to say
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort of a console script
        if debug:
            traceback.print_exc()
        if isinstance(exc, EdgeRuntimeError):
            message = str(exc)
        elif isinstance(exc, OSError):
            message = os_error_message(exc)
        else:
            message = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        print(f"Error: {message}", file=sys.stderr)
        return 1
