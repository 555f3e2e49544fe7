"""Which symbolic links archcalc follows: only to a file inside the tree it was found in.

Specs and budget files come from checkouts of strangers' pull requests, where a link can point at any file
of the machine (a key, a token): such a file is never read, so its text can never reach an error or a log.
"""

from __future__ import annotations

import errno
import os


def link_problem(path: str, tree: str, what: str = "a file", where: str = "the checked directory") -> str:
    """Why `path`, if it is a symbolic link, is not followed; "" when it may be (or is no link)."""
    if not os.path.islink(path):
        return ""
    try:
        os.stat(path)
    except OSError as err:
        loops = err.errno == errno.ELOOP
        return f"symbolic link that {'loops' if loops else 'leads nowhere (dangling)'}; not read"
    if not inside(os.path.realpath(path), tree):
        return f"symbolic link to {what} outside {where}; not followed"
    return ""


def inside(path: str, tree: str) -> bool:
    try:
        return os.path.commonpath([tree, path]) == tree
    except ValueError:  # another drive
        return False
