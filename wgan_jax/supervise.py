"""One process of a multi-process run, watched: a lost peer is reported in one line.

When a process of a run dies (SIGKILL, a crashed host), JAX's runtime notices its missing
heartbeats (or its closed connection) and terminates the others: each prints a page of C++ log
and aborts. ``run_watched`` runs the launcher again as a child with that environment marked, passes
its output through, and turns that page into one line that names the lost process; the exit
status is then 1, and running every process again resumes from the last complete checkpoint.
Stop signals are forwarded to the child, and the child dies with the watcher (a SIGKILL of the
watcher is a SIGKILL of the process).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys

# Set in the child's environment: the process that trains.
WATCHED = "WGAN_JAX_WATCHED"
# The runtime's line before it aborts a process whose peer was lost.
_FATAL = "Terminating process because the JAX distributed service detected fatal errors"
# Where the runtime's report begins: its C++ log lines from the coordination service.
_REPORT = re.compile(
    r"^[EF]\d{4} [\d:.]+ +\d+ (coordination_service\w*|client|preemption_sync_manager)\.(cc|h):")
_LOST_TASK = re.compile(r"Task (\d+) heartbeat timeout")
_UNHEALTHY = re.compile(r"stopped sending heartbeats\):\s*\n([\d,\s]+)")
_PR_SET_PDEATHSIG = 1


def is_watched() -> bool:
  return os.environ.get(WATCHED) == "1"


def run_watched(num_processes: int | None, heartbeat_timeout_s: int) -> int:
  """Runs this program (``sys.argv``) again as a watched child; returns the exit status to use."""
  child = subprocess.Popen([sys.executable, *sys.argv], env={**os.environ, WATCHED: "1"},
                           stderr=subprocess.PIPE, preexec_fn=die_with_parent)
  for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, lambda s, frame: child.send_signal(s))
  report: list[str] = []
  for raw in iter(child.stderr.readline, b""):
    line = raw.decode(errors="replace")
    if report or _REPORT.match(line):
      report.append(line)  # held back: the runtime is ending this process
    else:
      sys.stderr.write(line)
      sys.stderr.flush()
  status = child.wait()
  text = "".join(report)
  if _FATAL not in text:
    sys.stderr.write(text)
    return status if status >= 0 else 128 - status
  print(f"error: {_lost(text, num_processes)} (no heartbeat for {heartbeat_timeout_s} s, or its "
        f"connection closed); this process stopped too: run every process again with the same "
        f"command to resume from the last complete checkpoint", file=sys.stderr)
  return 1


def _lost(report: str, num_processes: int | None) -> str:
  of = f" of {num_processes}" if num_processes else ""
  tasks = sorted({int(t) for t in _LOST_TASK.findall(report)} |
                 {int(t) for m in _UNHEALTHY.findall(report) for t in re.findall(r"\d+", m)})
  if tasks:
    names = ", ".join(str(t) for t in tasks)
    return f"process {names}{of} was lost" if len(tasks) == 1 else f"processes {names}{of} were lost"
  return f"process 0{of} (the coordinator) was lost"


def die_with_parent() -> None:
  """This process gets SIGKILL when its parent ends (Linux: PR_SET_PDEATHSIG)."""
  libc = ctypes.CDLL(None, use_errno=True)
  libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
