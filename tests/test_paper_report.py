"""wgan_jax/paper/report.py, with fake parts (no training), and the verdict rules of the gaussians
part (experiments/reproduce_paper.py's refusals are in test_config_checks.py)."""

import copy
import json
import os
import sys
import textwrap

import pytest

from wgan_jax.configs import gaussians as gaussians_config
from wgan_jax.paper import Claim, PartResult
from wgan_jax.paper import gaussians_part
from wgan_jax.paper import report


FAKE_PART = textwrap.dedent('''
    import os
    from wgan_jax import files
    from wgan_jax.paper import Claim, PartResult

    def run(workdir, quick=False):
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, "calls"), "a") as f:
        f.write("quick\\n" if quick else "full\\n")
      files.save_text(os.path.join(workdir, "{name}.png"), "not really a png")
      result = PartResult(
          title="{name} title", figures=["{name}.png"],
          table_md="| x | {name} |\\n| --- | --- |\\n| 1 | 2 |\\n",
          claims=[Claim("{name} claim", "{name} number = 0.95", "{verdict}")],
          wall_time_s=1.5, how="{name} how")
      files.save_text(os.path.join(workdir, "result.json"), result.to_json())
      return result
''')
FAILING_PART = "def run(workdir, quick=False):\n  raise RuntimeError('boom\\nsecond line')\n"


@pytest.fixture
def registry(tmp_path, monkeypatch):
  """Fake parts as modules on sys.path: alpha and beta work, gamma fails, delta is missing."""
  package = tmp_path / "fake_parts"
  package.mkdir()
  (package / "alpha.py").write_text(FAKE_PART.format(name="alpha", verdict="holds"))
  (package / "beta.py").write_text(FAKE_PART.format(name="beta", verdict="does not hold"))
  (package / "gamma.py").write_text(FAILING_PART)
  monkeypatch.syspath_prepend(str(tmp_path))
  for name in ("alpha", "beta", "gamma"):
    sys.modules.pop(f"fake_parts.{name}", None)
  return {"alpha": "fake_parts.alpha", "beta": "fake_parts.beta", "gamma": "fake_parts.gamma",
          "delta": "fake_parts.delta"}


def _calls(workdir, part):
  return (workdir / part / "calls").read_text().split()


def test_report_assembles_every_figure_table_and_verdict(tmp_path, registry):
  workdir = tmp_path / "paper"
  outcomes = report.run(str(workdir), ["alpha", "beta"], False, "make reproduce-paper",
                        registry=registry)
  assert [o.name for o in outcomes] == ["alpha", "beta"]
  text = (workdir / "report.md").read_text()
  for name, verdict in (("alpha", "holds"), ("beta", "does not hold")):
    assert f"![{name}: {name}.png]({name}/{name}.png)" in text
    assert f"| 1 | 2 |" in text and f"| x | {name} |" in text
    assert f"| {name} | {name} claim | {name} number = 0.95 | **{verdict}** |" in text
    assert f"## {name}: {name} title" in text and f"{name} how" in text
    assert f"| {name} | 2 | run in this session" in text  # wall time 1.5 s, rounded
  assert "make reproduce-paper" in text and f"{os.cpu_count()} CPU cores" in text
  assert "jax " in text and "quick" not in text.lower()
  assert json.loads((workdir / report.RUN_FILE).read_text()) == {"quick": False}


def test_report_lists_each_change_of_protocol_under_its_part():
  changed = PartResult("t", [], "", [Claim("c", "n = 1", "premise not met")], 1.0, how="h",
                       changes=["the paper's measure: gradients of activations",
                                "trained to convergence"])
  unchanged = PartResult("u", [], "", [Claim("d", "m = 2", "holds")], 1.0)
  text = report.report_markdown([report.Outcome("p", changed), report.Outcome("q", unchanged)],
                                report.machine(), "today", False, "cmd", 2.0)
  part_p = text[text.index("## p: t"):text.index("## q: u")]
  assert ("What changed in the protocol, and why:\n\n- the paper's measure: gradients of "
          "activations\n- trained to convergence\n") in part_p
  assert "What changed" not in text[text.index("## q: u"):]
  assert "| p | c | n = 1 | **premise not met** |" in text
  # A result.json written before the field existed still reads, with no changes.
  fields = json.loads(unchanged.to_json())
  del fields["changes"]
  assert PartResult.from_json(json.dumps(fields)) == unchanged


def test_resume_reuses_results_and_runs_only_the_chosen_parts(tmp_path, registry):
  workdir = tmp_path / "paper"
  report.run(str(workdir), ["alpha"], False, "cmd", registry=registry)
  assert not (workdir / "beta").exists()
  report.run(str(workdir), ["beta", "alpha"], False, "cmd", registry=registry)
  assert _calls(workdir, "alpha") == ["full"]  # reused, not run again
  assert _calls(workdir, "beta") == ["full"]
  text = (workdir / "report.md").read_text()
  assert "| alpha | 2 | reused: result.json of an earlier run" in text
  assert text.index("## beta") < text.index("## alpha")  # the order asked for


def test_failing_and_missing_parts_are_reported_and_the_others_run(tmp_path, registry, capsys):
  workdir = tmp_path / "paper"
  outcomes = report.run(str(workdir), ["gamma", "delta", "alpha"], True, "cmd",
                        registry=registry)
  errors = {o.name: o.error for o in outcomes}
  assert errors == {"gamma": "RuntimeError: boom", "alpha": None,
                    "delta": "its module fake_parts.delta does not exist yet"}
  assert _calls(workdir, "alpha") == ["quick"]
  assert not (workdir / "gamma" / "result.json").exists()
  text = (workdir / "report.md").read_text()
  assert "Not run: its module fake_parts.delta does not exist yet." in text
  assert "| gamma | not run | RuntimeError: boom | n/a |" in text
  assert "mean nothing" in text  # the quick run says so
  assert "Traceback" in capsys.readouterr().err  # a failing part shows where it failed


def test_parse_parts():
  assert report.parse_parts("") == list(report.PARTS)
  assert report.parse_parts("lines, gaussians") == ["lines", "gaussians"]
  with pytest.raises(ValueError, match="unknown part 'line'"):
    report.parse_parts("line")
  with pytest.raises(ValueError, match="twice"):
    report.parse_parts("lines,lines")


def test_claim_round_trip():
  result = PartResult("t", ["a.png"], "| a |\n", [Claim("c", "n", "unclear")], 2.0, "h")
  assert PartResult.from_json(result.to_json()) == result


# The launcher's refusals (an unknown part, a flag that does not parse, an extra argument, a full
# run in a quick run's workdir) are cases of test_config_checks.py's
# launcher_cases("reproduce_paper.py"), all through its main in one process.


# The verdict rules of the parts, on numbers made up here (no training) -----------------------

def test_gaussians_part_claims_from_mode_counts():
  def row(modes):
    return {"modes_min": min(modes), "per_seed": [{"modes": m} for m in modes]}

  summary = {"results": {"ring8": {"gan": row([8, 7, 8]), "wgan": row([8, 8, 8])},
                         "grid25": {"gan": row([25, 25, 25]), "wgan": row([22, 21, 25])}}}
  claims = gaussians_part.claims(summary)
  assert [(c.claim.split(":")[0], c.verdict) for c in claims] == [
      ("ring8", "holds"), ("ring8", "holds"),
      ("grid25 (our extension of Figure 2)", "does not hold"),
      ("grid25 (our extension of Figure 2)", "does not hold")]
  assert claims[1].number == "GAN modes per seed: 8, 7, 8 of 8 (3 seeds)"


def test_gaussians_part_reuses_a_summary_with_the_same_settings():
  config = gaussians_config.get_config()
  fields = config.to_dict()
  same = gaussians_part._same_settings
  assert same({"config": fields}, config)
  # Another `jobs`: the same results.
  other_jobs = copy.deepcopy(fields)
  other_jobs["run"]["jobs"] = 1
  assert same({"config": other_jobs}, config)
  # Anything that changes results does not match, nor does a summary without settings, nor
  # one written with the flat settings of before the config schema.
  for section, field, value in (("run", "dtype", "bfloat16"), ("schedule", "num_steps", 10)):
    changed = copy.deepcopy(fields)
    changed[section][field] = value
    assert not same({"config": changed}, config)
  assert not same({}, config)
  assert not same({"config": {"iters": 10000, "seeds": 10}}, config)
