"""Opening a file the user names (the problem file, a data CSV): refused before reading, with the reason and the fix.

A missing file, a link loop, a folder, a device or a file over the size limit
is refused from ``os.stat`` alone; one that cannot be opened is refused
without a word about its encoding.  Faults are :class:`Unreadable`, which the
caller turns into a :class:`~pinn.errors.ProblemError` at its field.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: What an OSError met on a user's path means: errno -> (message, fix).
PATH_ERRORS = {
    errno.ENOENT: ("no such file", "Check the path."),
    errno.ENOTDIR: ("no such file: a part of the path is a file, not a folder", "Check the path."),
    errno.ELOOP: ("the path is a symbolic link loop (links that lead back to themselves)", "Point the link at the real file, or give the real path."),
    errno.ENAMETOOLONG: ("the path is too long for the file system (a name over 255 characters, or over 4,096 in all)",
                         "Use shorter folder and file names."),
    errno.EACCES: ("permission denied: a folder on the path cannot be searched", "Check the folders' permissions with ls -ld (chmod u+x FOLDER)."),
    errno.EPERM: ("the operation is not permitted on this path", "Check the permissions with ls -l."),
}


class Unreadable(Exception):
    """Why a file given by the user cannot be read: a message, a fix, and whether it is simply missing."""

    def __init__(self, message: str, fix: str, missing: bool = False):
        super().__init__(message)
        self.message, self.fix, self.missing = message, fix, missing


def check_user_file(path: Path, limit: int) -> None:
    """Refuse (:class:`Unreadable`) a path that is missing, a link loop, not a file or over ``limit`` bytes, before opening it."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ENOENT and os.path.islink(path):
            raise Unreadable("the path is a symbolic link to a file that does not exist", "Point the link at the real file.") from None
        message, fix = PATH_ERRORS.get(error.errno, (f"cannot open it: {error.strerror or error}", "Check the path and its permissions."))
        raise Unreadable(message, fix, error.errno == errno.ENOENT) from None
    except ValueError:  # a NUL character
        raise Unreadable("the path is not valid (it contains a NUL character)", "Check the path.") from None
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("this is a folder, not a file" if stat.S_ISDIR(info.st_mode) else "this is not a file (a device, pipe or socket)",
                         "Give the path of a file.")
    if info.st_size > limit:
        raise too_large(info.st_size, limit)


def too_large(size: int, limit: int) -> Unreadable:
    return Unreadable(f"the file is {size:,} bytes, beyond the limit of {limit / 1e6:g} MB ({limit:,} bytes)", "")


def unopenable(error: OSError) -> Unreadable:
    """A file that exists but cannot be opened or read (permission denied): never a matter of its encoding."""
    return Unreadable(f"the file cannot be read: {error.strerror or error}",
                      "Check its permissions with ls -l (chmod u+r FILE), or copy it where you can read it.")


def read_user_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, refusing (:class:`Unreadable`) before reading more than ``limit``."""
    check_user_file(path, limit)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise unopenable(error) from None
    if len(data) > limit:
        raise too_large(len(data), limit)
    return data
