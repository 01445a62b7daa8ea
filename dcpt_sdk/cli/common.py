"""What every dcpt command shares: one-line errors without tracebacks, a tiny progress bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from dcpt_sdk.errors import DcptError


def run_command(body: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run a command body; a DcptError becomes one 'error: ...' line on stderr and exit status 1.

    The message is folded onto one line (whatever newlines it holds), so scripts can rely on it.
    """
    try:
        return body() or 0
    except DcptError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130


class Progress:
    """A dependency-free progress line on stderr (redrawn in place on a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self.interactive = sys.stderr.isatty()

    def advance(self, note: str = "") -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self._show(
            f"{self.label} {self.done}/{self.total} [{elapsed:.1f}s, {rate:.2f} img/s] {note}"
        )

    def _show(self, line: str) -> None:
        """Redrawn in place on a terminal, one line each on a log."""
        if self.interactive:
            print("\r" + line[:120].ljust(120), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def within(self, note: str) -> Callable[[int, int], None]:
        """A tile callback for the current item: ``note tile 3/24`` while a large image runs, so
        a restore that takes minutes is never silent (redrawn in place on a terminal; on a log,
        about ten lines per image)."""

        def report(done: int, total: int) -> None:
            if not self.interactive and done not in (1, total) and done % max(1, total // 10):
                return
            elapsed = time.monotonic() - self.start
            self._show(
                f"{self.label} {self.done + 1}/{self.total} [{elapsed:.1f}s] {note}: tile {done}/{total}"
            )

        return report

    def close(self) -> None:
        if self.interactive:
            print(file=sys.stderr)
