"""The paper's claims, each measured by a part that writes a figure, numbers and a verdict.

Every part is a module with ``run(workdir: str, quick: bool = False, config=None) -> PartResult``
that writes its figures and a ``result.json`` (``PartResult.save``) in ``workdir``. Its config is
wgan_jax/configs/<part>.py; ``quick`` takes that module's quick variant, a smoke test of seconds
(for the tests) whose verdicts mean nothing, and ``config`` replaces it. ``make reproduce-paper`` runs
the parts and assembles their results into ``report.md``, reusing a part whose ``result.json``
exists.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Literal

from wgan_jax import files

RESULT_FILE = "result.json"
NUMBERS_FILE = "numbers.json"  # the measurements behind the table, with the config
# "premise not met": a claim of the form "when X, then Y" on a run that does not show X, decided
# before the claim's own number is looked at.
Verdict = Literal["holds", "does not hold", "unclear", "premise not met"]


@dataclasses.dataclass(frozen=True)
class Claim:
  claim: str  # the paper's claim, one line
  number: str  # what was measured, one line, with its value
  verdict: Verdict  # drawn from the number, not from the figure


@dataclasses.dataclass(frozen=True)
class PartResult:
  title: str
  figures: list[str]  # paths relative to the part's workdir
  table_md: str  # the part's numbers as a Markdown table
  claims: list[Claim]
  wall_time_s: float
  how: str = ""  # how the numbers were measured: samples, seeds, steps
  # One line per change of the protocol that a reader of an earlier report needs to see why a
  # verdict moved ("the paper's measure: ...", "trained to convergence: ...").
  changes: list[str] = dataclasses.field(default_factory=list)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2)

  def save(self, workdir: str, config=None, numbers: dict | None = None) -> None:
    """Writes ``workdir/numbers.json`` (``config`` and the part's ``numbers``, when given), then
    ``workdir/result.json``, each atomically: a part counts as done once result.json exists."""
    if numbers is not None:
      files.save_text(os.path.join(workdir, NUMBERS_FILE), json.dumps(
          {"config": config.to_dict(), **numbers}, indent=2, default=float) + "\n")
    files.save_text(os.path.join(workdir, RESULT_FILE), self.to_json() + "\n")

  @classmethod
  def from_json(cls, text: str) -> "PartResult":
    fields = json.loads(text)
    fields["claims"] = [Claim(**c) for c in fields["claims"]]
    return cls(**fields)


def fmt(value, spec: str) -> str:
  """``value`` formatted by ``spec`` for a table or a claim's number; "n/a" for None or NaN."""
  return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
      else format(value, spec)
