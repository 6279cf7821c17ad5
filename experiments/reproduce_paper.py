r"""The paper's claims, measured: every part, then report.md.

    make reproduce-paper     # every part in runs/paper (PAPER_WORKDIR), within an hour on 2 cores
    make reproduce-lines     # Figure 1 alone
    python experiments/reproduce_paper.py --workdir=runs/paper --parts=lines,meaningful_loss
    python experiments/reproduce_paper.py --workdir=/tmp/paper_quick --quick   # a smoke test

Parts (``wgan_jax/paper/``, each with its config in ``wgan_jax/configs/<part>.py`` and its
``quick`` variant): gaussians (Figure 2, the gaussians reproduction), lines (Figure 1, parallel
lines), two_gaussians (Figure 3, the optimal discriminator and critic between two Gaussians),
meaningful_loss (the estimate against the exact W1 over training), clipping (WGAN-GP's case
against weight clipping), architectures (Figures 6-8 on MNIST), image_curves (Figures 4, 5 and 9:
the estimate against sample quality on MNIST, on the architectures part's runs), adam (Adam
against RMSProp). Each runs in
``<workdir>/<part>/`` and writes its figures and result.json there; a part whose result.json
exists is reused, not run again, so a killed run resumes (delete a part's folder to redo it).
``<workdir>/report.md`` then holds every figure, every table and a verdict for each claim, with
the date, the machine and each part's wall time. A part that fails or does not exist yet is
named in the report, the others still run, and the command exits with status 1.
"""

import os
import sys

from absl import flags

from wgan_jax import cli
from wgan_jax.paper import report

_WORKDIR = flags.DEFINE_string("workdir", "runs/paper", "Where the parts and report.md go.")
_PARTS = flags.DEFINE_string("parts", ",".join(report.PARTS),
                             f"Comma-separated parts to run, in this order: "
                             f"{', '.join(report.PARTS)}.")
_QUICK = flags.DEFINE_bool("quick", False, "A smoke test: every part at tiny settings; its "
                           "verdicts mean nothing. Needs a workdir of its own.")


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  # Everything that can refuse the flags runs before anything is written.
  try:
    parts = report.parse_parts(_PARTS.value)
    report.check_workdir(_WORKDIR.value, _QUICK.value, parts)
  except ValueError as e:
    cli.fail(str(e))
  command = " ".join(["python experiments/reproduce_paper.py", f"--workdir={_WORKDIR.value}",
                      f"--parts={','.join(parts)}"] + (["--quick"] if _QUICK.value else []))
  outcomes = report.run(_WORKDIR.value, parts, _QUICK.value, command)
  print(f"wrote {os.path.join(_WORKDIR.value, 'report.md')}")
  failed = [f"{o.name} ({o.error})" for o in outcomes if o.result is None]
  if failed:
    print(f"error: not run: {'; '.join(failed)}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
