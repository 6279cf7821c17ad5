"""One run per workdir: an exclusive lock file, ``<workdir>/run.lock``, holding the pid and host.

The lock is ``fcntl.flock`` on that file, which the kernel releases when its process dies, however
it dies: a run killed with SIGKILL leaves the file behind but not the lock, so the next run
takes it over. The pid and host written in the file only name the holder in the refusal. Where
the file system has no flock (some network file systems), the pid decides instead: a live process
on this host holds the workdir, a dead one's lock is stale. A ``run.lock`` that is not a regular
file (a folder, a symbolic link, a pipe) or cannot be opened is refused, not followed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat

LOCK_FILE = "run.lock"


class LockRefused(RuntimeError):
  """The workdir cannot be locked for this run; the message says why and what to do."""


class WorkdirBusy(LockRefused):
  """Another live run holds the workdir; the message names it."""


class LockUnusable(LockRefused):
  """``run.lock`` cannot be a lock file: it is no regular file, or cannot be opened."""


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # it exists, under another user
  return True


def _kind(mode: int) -> str:
  for test, name in ((stat.S_ISDIR, "a folder"),
                     (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe"),
                     (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                     (stat.S_ISBLK, "a block device")):
    if test(mode):
      return name
  return "no regular file"


def _read_holder(path: str) -> tuple[int | None, str]:
  try:
    with open(path) as f:
      pid_text, _, host = f.read().strip().partition(" ")
    return int(pid_text), host
  except (OSError, ValueError):
    return None, ""


class WorkdirLock:
  """``with WorkdirLock(workdir):`` holds ``workdir/run.lock``, or raises ``WorkdirBusy`` (held by
  another run) or ``LockUnusable`` (no file); both are ``LockRefused``."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._fd: int | None = None

  def acquire(self) -> WorkdirLock:
    host = socket.gethostname()
    while True:
      fd = self._open()
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        os.close(fd)
        pid, holder_host = _read_holder(self.path)
        who = f"pid {pid} on {holder_host}" if pid is not None else "another process"
        raise WorkdirBusy(f"workdir {os.path.dirname(self.path)!r} is in use by {who} "
                          f"(lock {self.path}); wait for it to end or use another --workdir"
                          ) from None
      except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
          os.close(fd)
          raise
        pid, holder_host = _read_holder(self.path)
        if pid is not None and pid != os.getpid() and holder_host == host and _pid_alive(pid):
          os.close(fd)
          raise WorkdirBusy(f"workdir {os.path.dirname(self.path)!r} is in use by pid {pid} on "
                            f"{host} (lock {self.path}); wait for it to end or use another "
                            f"--workdir") from None
      # A previous holder may have removed the file between our open and our flock: then we
      # hold a lock on a file nobody else can see, and must try again on the new one.
      try:
        same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {host}\n".encode())
    os.fsync(fd)
    self._fd = fd
    return self

  def _open(self) -> int:
    """A descriptor of the lock file, made if missing; LockUnusable for a path that is or leads
    to anything else, which is neither followed nor changed."""
    # O_NOFOLLOW: a link is not followed out of the workdir; O_NONBLOCK: a named pipe does not
    # wait for a writer.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
      fd = os.open(self.path, flags, 0o644)
    except OSError as e:
      try:
        mode = os.lstat(self.path).st_mode
      except OSError:
        mode = stat.S_IFREG
      why = (f"cannot be opened ({e.strerror})" if stat.S_ISREG(mode) else
             f"is {_kind(mode)}, not a file")
      raise LockUnusable(f"the lock file {self.path} {why}; remove it or use another "
                         f"--workdir") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
      os.close(fd)
      raise LockUnusable(f"the lock file {self.path} is {_kind(mode)}, not a file; remove it "
                         f"or use another --workdir")
    return fd

  def release(self) -> None:
    if self._fd is None:
      return
    # Removed while still locked, so that no other run can lock the file being removed.
    try:
      os.remove(self.path)
    except FileNotFoundError:
      pass
    try:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
    except OSError:
      pass  # no flock here (see acquire); closing is all there is to do
    os.close(self._fd)
    self._fd = None

  def __enter__(self) -> WorkdirLock:
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
