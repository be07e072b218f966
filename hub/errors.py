"""Exit codes and the one error type whose message is all an operator needs (no traceback)."""
from __future__ import annotations

# sysexits.h EX_CONFIG: this process cannot run as configured (e.g. its port is taken). Restarting it
# cannot help, so the supervisor stops the whole run instead of restarting the child.
EX_CONFIG = 78
# What a shell reports for a command ended by Ctrl-C (128 + SIGINT).
EX_INTERRUPTED = 130


class Fatal(RuntimeError):
    """An error the operator fixes, not a bug: `crophub` prints its message as one line and exits with `code`.

    A RuntimeError, so code that caught the embedded Redis's start errors before still does.
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
