"""The unprivileged account servers run as when knobray itself runs as root."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from raytune.errors import EngineError

logger = logging.getLogger(__name__)

SERVICE_USER = os.environ.get("KNOBRAY_SERVICE_USER", "knobray")


@dataclass(frozen=True)
class ServiceUser:
    """The OS account that owns data directories and runs server processes."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.getuid()

    def chown(self, path: Path, recursive: bool = False) -> None:
        """Gives ``path`` (and, if asked, everything below it) to this user; a no-op when it is us."""
        if self.is_current:
            return
        os.chown(path, self.uid, self.gid)
        if recursive:
            for root, dirs, files in os.walk(path):
                for entry in dirs + files:
                    os.chown(os.path.join(root, entry), self.uid, self.gid, follow_symlinks=False)


def service_user() -> ServiceUser:
    """Returns the account servers run as: the current user, or (as root) an unprivileged one, created if needed.

    Raises:
        EngineError: If running as root and the account cannot be created.
    """
    if os.getuid() != 0:
        entry = pwd.getpwuid(os.getuid())
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        logger.info("creating system user %s for database servers", SERVICE_USER)
        proc = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            capture_output=True,
            text=True,
        )
        if proc.returncode not in (0, 9):  # 9: created concurrently by another process
            raise EngineError(
                f"cannot create system user {SERVICE_USER!r} to run servers as root ({proc.stderr.strip()}); "
                f"create it by hand or run knobray as a normal user"
            ) from None
        entry = pwd.getpwnam(SERVICE_USER)
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def check_reachable(user: ServiceUser, path: Path) -> None:
    """Fails clearly when ``user`` cannot traverse every parent of ``path`` (e.g. a work dir under /root).

    Raises:
        EngineError: Naming the blocking directory and the fix.
    """
    if user.is_current:
        return
    for parent in [*reversed(path.resolve().parents)]:
        st = parent.stat()
        if st.st_uid == user.uid:
            continue
        if not st.st_mode & 0o001:
            raise EngineError(
                f"server user {user.name} cannot enter {parent} (mode {oct(st.st_mode & 0o777)}); "
                f"choose a work directory outside it (e.g. --workdir /var/tmp/knobray)"
            )
