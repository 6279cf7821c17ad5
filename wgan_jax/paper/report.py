"""Runs the parts of the paper's reproduction and assembles their results into ``report.md``.

Each part runs in ``<workdir>/<part>/``; a part whose ``result.json`` is already there is not run
again but reused, so that a killed ``make reproduce-paper`` resumes where it stopped (delete a
part's folder to run it again). A part whose module cannot be found, or that fails, is named in
the report and the run goes on with the others.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import platform
import sys
import time
import traceback
from typing import TextIO

import jax

from wgan_jax import files
from wgan_jax.paper import RESULT_FILE, PartResult

# The parts in the order they run, each a module with run(workdir, quick) -> PartResult.
PARTS: dict[str, str] = {
    "gaussians": "wgan_jax.paper.gaussians_part",
    "lines": "wgan_jax.paper.lines",
    "two_gaussians": "wgan_jax.paper.two_gaussians",
    "meaningful_loss": "wgan_jax.paper.meaningful_loss",
    "clipping": "wgan_jax.paper.clipping",
    "architectures": "wgan_jax.paper.architectures",
    "image_curves": "wgan_jax.paper.image_curves",
    "adam": "wgan_jax.paper.adam",
}
RUN_FILE = "run.json"  # remembers whether the workdir holds a quick run


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What became of one part: its result, or the error that stopped it."""

  name: str
  result: PartResult | None
  reused: bool = False  # result.json was already there
  error: str | None = None
  result_date: str = ""  # when its result.json was written


def parse_parts(text: str, known=tuple(PARTS)) -> list[str]:
  """A comma-separated list of part names (empty: all); ValueError naming a bad one."""
  names = [name.strip() for name in text.split(",") if name.strip()]
  if not names:
    return list(known)
  for name in names:
    if name not in known:
      raise ValueError(f"--parts: unknown part {name!r}; choose from {', '.join(known)}")
  if len(set(names)) != len(names):
    raise ValueError(f"--parts lists a part twice: {','.join(names)}")
  return names


def check_workdir(workdir: str, quick: bool, parts=()) -> None:
  """ValueError when ``workdir`` cannot hold this run, or holds a run.json or a result.json of
  one of ``parts`` that cannot be read (a reused part reads it); writes nothing."""
  files.check_workdir(workdir)
  path = os.path.join(workdir, RUN_FILE)
  if os.path.exists(path):
    run = files.read_json(path)
    if not isinstance(run, dict):
      raise ValueError(f"{path} holds no run description (a JSON object); restore or remove it")
    previous = run.get("quick")
    if previous != quick:
      kind = "a quick (smoke test)" if previous else "a full"
      raise ValueError(f"--workdir {workdir!r} holds {kind} run; use another workdir or "
                       f"{'add' if previous else 'drop'} --quick")
  for name in parts:
    result_path = os.path.join(workdir, name, RESULT_FILE)
    if os.path.exists(result_path):
      files.read_json(result_path)
      try:
        with open(result_path) as f:
          PartResult.from_json(f.read())
      except Exception as e:  # noqa: BLE001  (any malformed field)
        raise ValueError(f"{result_path} is not a result of this version ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); remove it to run "
                         f"{name} again") from None


def _date_of(path: str) -> str:
  return datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M")


def run_part(name: str, module_name: str, workdir: str, quick: bool,
             stream: TextIO | None = None) -> Outcome:
  """Runs one part in ``workdir/name`` unless its result.json exists; progress to ``stream``."""
  stream = stream or sys.stderr
  part_dir = os.path.join(workdir, name)
  result_path = os.path.join(part_dir, RESULT_FILE)
  if os.path.exists(result_path):
    with open(result_path) as f:
      result = PartResult.from_json(f.read())
    print(f"{name}: reusing {result_path}", file=stream)
    return Outcome(name, result, reused=True, result_date=_date_of(result_path))
  try:
    module = importlib.import_module(module_name)
    print(f"{name}: running in {part_dir}", file=stream)
    result = module.run(part_dir, quick=quick)
  except Exception as e:  # noqa: BLE001  (the other parts still run)
    if isinstance(e, ModuleNotFoundError) and e.name == module_name:
      return Outcome(name, None, error=f"its module {module_name} does not exist yet")
    traceback.print_exc(file=stream)
    return Outcome(name, None, error=f"{type(e).__name__}: {e}".splitlines()[0])
  if not os.path.exists(result_path):  # the interface asks the part to write it; make sure
    result.save(part_dir)
  return Outcome(name, result, result_date=_date_of(result_path))


def machine() -> dict:
  """What the numbers were measured on."""
  return {"platform": platform.platform(), "cpus": os.cpu_count(),
          "python": platform.python_version(), "jax": jax.__version__,
          "backend": jax.default_backend(),
          "devices": ", ".join(sorted({d.device_kind for d in jax.devices()}))}


def _cell(text: str) -> str:
  return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(outcomes: list[Outcome], machine_info: dict, date: str, quick: bool,
                    command: str, total_s: float) -> str:
  """report.md: the verdicts, the wall times, then every part's figures, tables and claims."""
  lines = [
      "# The WGAN paper's claims, measured",
      "",
      f"Made by `{command}` on {date}, on {machine_info['platform']} with "
      f"{machine_info['cpus']} CPU cores, Python {machine_info['python']}, jax "
      f"{machine_info['jax']} ({machine_info['backend']} backend: {machine_info['devices']}). "
      f"This session took {total_s:.0f} s.",
      "",
  ]
  if quick:
    lines += ["**A quick run (`--quick`): a smoke test with tiny settings; its numbers and "
              "verdicts mean nothing.**", ""]
  lines += ["## Verdicts", "",
            "Each verdict is drawn from the number beside it, by a rule fixed before the run "
            "(stated in the number).", "",
            "| part | claim | number | verdict |", "| --- | --- | --- | --- |"]
  for o in outcomes:
    if o.result is None:
      lines.append(f"| {o.name} | not run | {_cell(o.error or '')} | n/a |")
      continue
    for c in o.result.claims:
      lines.append(f"| {o.name} | {_cell(c.claim)} | {_cell(c.number)} | **{c.verdict}** |")
  lines += ["", "## Wall times", "", "| part | wall time (s) | |", "| --- | --- | --- |"]
  for o in outcomes:
    if o.result is None:
      lines.append(f"| {o.name} | n/a | not run: {_cell(o.error or '')} |")
    else:
      note = (f"reused: result.json of an earlier run, {o.result_date}" if o.reused
              else f"run in this session, finished {o.result_date}")
      lines.append(f"| {o.name} | {o.result.wall_time_s:.0f} | {note} |")
  for o in outcomes:
    lines += ["", f"## {o.name}: {o.result.title}" if o.result else f"## {o.name}", ""]
    if o.result is None:
      lines += [f"Not run: {o.error}.", ""]
      continue
    if o.result.how:
      lines += [o.result.how, ""]
    if o.result.changes:
      lines += ["What changed in the protocol, and why:", ""]
      lines += [f"- {change}" for change in o.result.changes] + [""]
    for figure in o.result.figures:
      lines += [f"![{o.name}: {figure}]({o.name}/{figure})", ""]
    if o.result.table_md:
      lines += [o.result.table_md.rstrip("\n"), ""]
    for c in o.result.claims:
      lines.append(f"- **{c.verdict}**: {c.claim}. {c.number}.")
  return "\n".join(lines).rstrip("\n") + "\n"


def run(workdir: str, parts: list[str], quick: bool, command: str,
        registry: dict[str, str] | None = None, stream: TextIO | None = None) -> list[Outcome]:
  """Runs ``parts`` (names of ``registry``, PARTS by default) and writes ``workdir/report.md``.

  Call ``check_workdir`` first: this writes in ``workdir``.
  """
  registry = PARTS if registry is None else registry
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  files.save_text(os.path.join(workdir, RUN_FILE), json.dumps({"quick": quick}) + "\n")
  outcomes = [run_part(name, registry[name], workdir, quick, stream) for name in parts]
  markdown = report_markdown(outcomes, machine(), datetime.datetime.now().strftime(
      "%Y-%m-%d %H:%M"), quick, command, time.perf_counter() - start)
  files.save_text(os.path.join(workdir, "report.md"), markdown)
  return outcomes
