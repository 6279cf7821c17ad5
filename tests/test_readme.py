"""The README's example loop runs (with narrower networks and fewer iterations)."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_example_runs(capsys):
  readme = open(os.path.join(ROOT, "README.md")).read()
  code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
  small = code.replace("512", "16").replace("range(5)", "range(2)").replace(
      "train_steps(state, key, 100)", "train_steps(state, key, 10)")
  namespace = {}
  exec(compile(small, "README.md", "exec"), namespace)
  assert namespace["samples"].shape == (2500, 2)
  printed = capsys.readouterr().out.split()
  assert printed[0] == "10" and printed[2] == "20"
