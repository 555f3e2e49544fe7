"""Where the output goes: a stdout that cannot be written is one clear status; the terminal's width, bounded.

archcalc's output often goes where it cannot be written: a pipe whose
reader has stopped (`archcalc check specs | head -1`), a full disk
(`> /dev/full`), a closed descriptor (`>&-`). `guard_stdout` wraps stdout so
that every such failure, in any command and through rich too, becomes one
`OutputError`, which the CLI turns into an exit status, never a traceback:
141 and no message for a reader that stopped (as a shell reports SIGPIPE),
74 (EX_IOERR) and one line on stderr for any other failure.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import ArchcalcError
from ..safe import printable
from .command import UsageError

MIN_WIDTH, MAX_WIDTH = 20, 1_000  # columns; past 1,000 rich lays out help pages for seconds, to no use
DEFAULT_WIDTH = 80
BROKEN_PIPE, IO_ERROR = 141, 74  # 128 + SIGPIPE, as a shell reports it; sysexits.h's EX_IOERR


class OutputError(Exception):
    """stdout could not be written; `reason` says why (a reader that stopped is `errno.EPIPE`)."""

    def __init__(self, reason: str, code: int | None):
        super().__init__(reason)
        self.code = code


class _Guarded:
    """A text stream that raises OutputError wherever writing to the one it wraps fails."""

    def __init__(self, stream: TextIO | None):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._call("write", text)

    def flush(self) -> None:
        if self._stream is not None:  # a closed stdout that was never written to has nothing to lose
            self._call("flush")

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def _call(self, method: str, *args: Any) -> Any:
        if self._stream is None:
            raise OutputError("stdout is closed", errno.EBADF)
        try:
            return getattr(self._stream, method)(*args)
        except OSError as err:
            raise OutputError(err.strerror or str(err), err.errno) from None
        except ValueError as err:  # a closed file
            raise OutputError(str(err), None) from None

    def __getattr__(self, name: str) -> Any:  # encoding, fileno … of the stream wrapped
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def guard_stdout() -> TextIO:
    """Wrap sys.stdout (once) so that failures to write it raise OutputError; returns what was there.

    A surrogate that reaches the encoder (a file name that is not UTF-8) is written as its escape,
    never refused: the output stays valid UTF-8.
    """
    original = sys.stdout
    if not isinstance(original, _Guarded):
        if hasattr(original, "reconfigure"):
            original.reconfigure(errors="backslashreplace")
        sys.stdout = _Guarded(original)  # type: ignore[assignment]
    return original


def abandon(stream: TextIO | None) -> None:
    """After an OutputError: point the process's stdout at /dev/null, so that the interpreter's final
    flush of what is still buffered cannot fail again (and print its own message) at exit."""
    try:
        fd = stream.fileno() if stream is not None else 1
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def say(line: str) -> None:
    """One line on stderr, if stderr can take it (it may be closed, or full, too)."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def width() -> int:
    """Columns for rich: COLUMNS when it is a number (0 and junk are ignored), else the terminal's,
    else 80; always from 20 to 1,000."""
    text = os.environ.get("COLUMNS", "")
    columns = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0
    if not columns:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            columns = DEFAULT_WIDTH
    return min(max(columns, MIN_WIDTH), MAX_WIDTH)


def write_file(out: Path, write: Callable[[Path], None]) -> None:
    """Write `out`, then say so on stderr; a file that cannot be written is one error line.

    The content goes to a new file beside it, renamed over `out` once whole: a symbolic link planted at
    `out` (a pull request's checkout) is replaced, never written through, and a failed write leaves no
    half file.
    """
    temporary = None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
        os.close(handle)
        temporary = Path(name)
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)  # as open() would have made it; mkstemp's file is private
        os.replace(temporary, out)
        temporary = None
    except OSError as err:
        raise ArchcalcError(f"cannot write {out}: {err.strerror or err}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    say(printable(f"wrote {out}"))


def output_path(path: str, suffixes: tuple[str, ...]) -> Path:
    """The file an --output names, refused (a usage error) unless its name ends in one of `suffixes`."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--output/-o: expected a file name ending in {' or '.join(suffixes)}; received '{path}'")
    return out
