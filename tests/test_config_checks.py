"""Bad input through the launchers: each case gives one line naming the setting, exit status 2,
and leaves the workdir as it was; legal but poor combinations give a one-line warning.

experiments/train_images.py runs in this process (its main, after its own flag parser); the
cases of experiments/gaussians.py and experiments/sample.py, whose flags clash with it, run
through both launchers' mains in one subprocess each. What every launcher must refuse (unusable
workdirs, config files that do not load, numbers too large, unparsable files of an earlier run)
runs through each of the five in a subprocess whose stderr must hold nothing but those lines.
"""

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys

from absl import flags
import jax
import numpy as np
from PIL import Image
import pytest

from wgan_jax import checks
from wgan_jax import cli
from wgan_jax import files

# ml_collections loads config files with the deprecated load_module, once per parse.
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "wgan_jax", "configs")
TOY = f"--config={CONFIGS}/toy.py:tiny"
MNIST = f"--config={CONFIGS}/mnist.py:quick"
# experiments/gaussians.py's default, named: the launcher is loaded once per driver process, and
# ml_collections reads the overrides of a default config only from the argv of that import.
GAUSSIANS = f"--config={CONFIGS}/gaussians.py"
MNIST_REPRODUCTION = f"--config={CONFIGS}/mnist_reproduction.py:quick"


class Whole(str):
  """A case's message that must be the whole line after "error: ", not only a part of it."""


def refused(lines: list[str], message: str) -> bool:
  """Whether ``lines`` is one "error: " line that holds ``message`` (is it, for a Whole)."""
  if isinstance(message, Whole):
    return lines == [f"error: {message}"]
  return len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def load_script(name: str):
  """experiments/<name>.py as a module (once per process: its flags are global)."""
  module_name = f"experiments_{name}"
  if module_name not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        module_name, os.path.join(ROOT, "experiments", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
  return sys.modules[module_name]


def parse(script: str, args: list[str]) -> list[str]:
  """Parses ``args`` as the flags of experiments/<script>.py; returns the remaining argv."""
  load_script(script)
  flags.FLAGS.unparse_flags()
  for name in list(flags.FLAGS):  # ml_collections defines one flag per override it parses
    if name.startswith("config."):
      delattr(flags.FLAGS, name)
  argv = [f"{script}.py", *args]
  saved, sys.argv = sys.argv, argv  # ml_collections reads --config.<field> overrides there
  try:
    return cli.parse_or_exit(argv)
  finally:
    sys.argv = saved


def run_main(script: str, args: list[str]) -> int:
  """The exit status of ``experiments/<script>.py args`` run in this process."""
  try:
    load_script(script).main(parse(script, args))
  except SystemExit as e:
    return e.code if isinstance(e.code, int) else 1
  return 0


def snapshot(path) -> dict:
  """Every file, folder and link under ``path`` with a hash of its bytes (a link's target) and
  its mtime."""
  state = {}
  for parent, dirs, names in os.walk(path):
    for name in dirs:
      state[os.path.relpath(os.path.join(parent, name), path)] = "dir"
    for name in names:
      full = os.path.join(parent, name)
      if os.path.islink(full):
        state[os.path.relpath(full, path)] = ("link", os.readlink(full))
        continue
      with open(full, "rb") as f:
        state[os.path.relpath(full, path)] = (hashlib.sha256(f.read()).hexdigest(),
                                              os.stat(full).st_mtime_ns)
  return state


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """Folders of bad data: empty, only a non-image, only a corrupt image."""
  root = tmp_path_factory.mktemp("data")
  (root / "empty").mkdir()
  (root / "text_only").mkdir()
  (root / "text_only" / "notes.txt").write_text("not an image")
  (root / "corrupt_only").mkdir()
  (root / "corrupt_only" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 16)
  (root / "a_file").write_text("keep me")
  (root / "tfds").mkdir()
  good = root / "good"
  good.mkdir()
  for i in range(4):
    Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(good / f"{i}.png")
  return root


# (launcher arguments, the message the last line must contain). {data} is the fixture's folder.
TRAIN_CASES = [
    ([TOY, "--config.objective.method=vae"], "--config.objective.method: unknown method 'vae'"),
    ([TOY, "--config.generator.name=resnet"],
     "--config.generator.name: unknown generator 'resnet'"),
    ([MNIST, "--config.critic.name=resnet"], "--config.critic.name: unknown critic 'resnet'"),
    ([MNIST, "--config.critic.norm=group"], "--config.critic.norm: unknown critic norm 'group'"),
    ([TOY, "--config.objective.gan_generator_loss=hinge"],
     "--config.objective.gan_generator_loss: unknown generator loss 'hinge'"),
    ([TOY, "--config.schedule.num_steps=0"],
     "--config.schedule.num_steps must be at least 1, got 0"),
    ([TOY, "--config.run.checkpoint_every=-5"],
     "--config.run.checkpoint_every must be at least 1"),
    ([TOY, "--config.schedule.steps_per_dispatch=0"],
     "--config.schedule.steps_per_dispatch must be at least 1"),
    ([TOY, "--config.run.keep_checkpoints=0"], "--config.run.keep_checkpoints must be at least 1"),
    ([TOY, "--config.schedule.batch_size=0"], "--config.schedule.batch_size must be at least 1"),
    ([TOY, "--config.schedule.n_critic=0"], "--config.schedule.n_critic must be at least 1"),
    ([TOY, "--config.generator.noise_dim=0"], "--config.generator.noise_dim must be at least 1"),
    ([TOY, "--config.generator.depth=0"], "--config.generator.depth must be at least 1"),
    ([TOY, "--config.critic.hidden=0"], "--config.critic.hidden must be at least 1"),
    ([MNIST, "--config.critic.features=0"], "--config.critic.features must be at least 1"),
    ([TOY, "--config.run.seed=-1"], "--config.run.seed must be at least 0"),
    ([MNIST, "--config.data.limit=-3"], "--config.data.limit must be at least 0"),
    ([MNIST, "--config.data.channels=2"], "--config.data.channels must be 1 or 3, got 2"),
    ([TOY, "--config.objective.gp_weight=-1"],
     "--config.objective.gp_weight must be a finite number of at least 0"),
    ([TOY, "--config.objective.margin=0"],
     "--config.objective.margin must be a finite number above 0"),
    ([TOY, "--config.data.dataset="], "--config.data.dataset must name a dataset"),
    ([TOY, "--config.critic_optimizer.name=sgd"],
     "--config.critic_optimizer.name: unknown optimiser 'sgd'"),
    ([TOY, "--config.critic_optimizer.learning_rate=0"],
     "--config.critic_optimizer.learning_rate must be a finite number above 0, got 0.0"),
    ([TOY, "--config.generator_optimizer.learning_rate=nan"],
     "--config.generator_optimizer.learning_rate must be a finite number above 0, got nan"),
    ([TOY, "--config.critic_optimizer.b1=1.0"], "--config.critic_optimizer.b1 must lie in [0, 1)"),
    ([TOY, "--config.generator_optimizer.b2=-0.1"],
     "--config.generator_optimizer.b2 must lie in [0, 1)"),
    ([MNIST, "--config.critic_optimizer.clip=-0.01"],
     "--config.critic_optimizer.clip must be a finite number above 0"),
    ([TOY, "--config.critic_optimizer.name=frozen"],
     "--config.critic_optimizer.name=frozen: every method trains its critic"),
    ([TOY, "--config.generator.name=dcgan"],
     "--config.generator.name='dcgan' is an image network but --config.data.dataset='ring8' is "
     "2-D"),
    ([MNIST, "--config.critic.name=toy_mlp"],
     "--config.critic.name='toy_mlp' is a 2-D network but --config.data.dataset='mnist_offline' "
     "holds"),
    ([TOY, "--config.objective.method=ebgan"],
     "--config.objective.method=ebgan needs an autoencoder critic"),
    ([TOY, "--config.critic.name=toy_autoencoder"],
     "--config.critic.name='toy_autoencoder' scores with an energy"),
    ([MNIST, "--config.objective.method=wgan-gp"],
     "--config.critic.norm=batch with --config.objective.method=wgan-gp: the gradient penalty "
     "needs a critic without BatchNorm"),
    ([MNIST, "--config.data.image_size=30"],
     "--config.data.image_size: DCGAN cannot handle image_size=30"),
    ([MNIST, "--config.run.dtype=float16"], "--config.run.dtype: unknown dtype 'float16'"),
    ([TOY, "--config.nosuch=1"], "--config.nosuch: the config has no field 'nosuch'"),
    ([TOY, "--config.schedule.nosuch=1"],
     "--config.schedule.nosuch: the config has no field 'nosuch'"),
    ([TOY, "--config.schedule.num_steps=abc"],
     "--config.schedule.num_steps=abc: invalid literal for int()"),
    ([f"--config={CONFIGS}/toy.py:huge"], "unknown variant 'huge' of toy.py"),
    ([f"--config={CONFIGS}/no_such_config.py"], "--config: cannot load config file"),
    ([TOY, "unexpected"], "unexpected arguments: unexpected"),
    # Data: missing, empty, nothing decodable (named), an unknown or unprepared tfds set.
    ([MNIST, "--config.data.dataset=folder:/no/such/folder"],
     "folder /no/such/folder does not exist"),
    ([MNIST, "--config.data.dataset=folder:{data}/empty"], "empty contains no JPEG or PNG images"),
    ([MNIST, "--config.data.dataset=folder:{data}/text_only"],
     "text_only contains no JPEG or PNG images (1 other files)"),
    ([MNIST, "--config.data.dataset=folder:{data}/corrupt_only"],
     "has no image that can be decoded (1 unreadable JPEG/PNG files, e.g. broken.png)"),
    ([MNIST, "--config.data.dataset=no_such_images"], "unknown tfds dataset 'no_such_images'"),
    ([MNIST, "--config.data.dataset=mnist", "--config.data.data_dir={data}/tfds"],
     "tfds dataset 'mnist' is not prepared in {data}/tfds"),
]


@pytest.mark.parametrize("args, message", TRAIN_CASES,
                         ids=[" ".join(a[1:]) or a[0].split("/")[-1] for a, _ in TRAIN_CASES])
def test_train_images_refuses_bad_input(tmp_path, data, capsys, args, message):
  args = [a.replace("{data}", str(data)) for a in args]
  message = message.replace("{data}", str(data))
  workdir = tmp_path / "run"
  capsys.readouterr()
  status = run_main("train_images", [*args, f"--workdir={workdir}"])
  err = capsys.readouterr().err
  lines = err.strip().splitlines()
  assert status == 2, err[-2000:]
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err[-2000:]
  assert not workdir.exists()


def test_bad_config_leaves_an_existing_run_untouched(tmp_path, data, capsys):
  workdir = tmp_path / "run"
  (workdir / "checkpoints" / "10").mkdir(parents=True)
  (workdir / "config.json").write_text('{"objective": {"method": "wgan"}}')
  (workdir / "metrics.jsonl").write_text('{"step": 1}\n')
  before = snapshot(workdir)
  for args in ([TOY, "--config.objective.method=vae"], [MNIST, "--config.data.image_size=30"],
               [MNIST, f"--config.data.dataset=folder:{data}/corrupt_only"]):
    assert run_main("train_images", [*args, f"--workdir={workdir}"]) == 2
  assert snapshot(workdir) == before


def test_workdir_that_is_a_file(data, capsys):
  before = snapshot(data)
  assert run_main("train_images", [TOY, f"--workdir={data}/a_file"]) == 2
  assert f"--workdir '{data}/a_file' exists and is not a directory" in capsys.readouterr().err
  assert snapshot(data) == before


# Legal but poor: (overrides of toy.py:tiny or mnist.py:quick, the warning's start). Checked on the
# config the launcher's parser produced; a run that prints one is in test_reliability.py.
WARNING_CASES = [
    ([TOY, "--config.critic_optimizer.clip=0.1", "--config.objective.method=wgan"],
     "weight clipping with Adam and beta1=0.5 (--config.critic_optimizer): the WGAN paper found "
     "momentum"),
    ([TOY, "--config.critic_optimizer.clip=0.1", "--config.critic_optimizer.b1=0.0",
      "--config.objective.method=wgan"], "weight clipping with Adam (--config.critic_optimizer)"),
    ([TOY, "--config.objective.method=wgan"],
     "--config.objective.method=wgan without --config.critic_optimizer.clip"),
    ([MNIST, "--config.objective.method=gan"],
     "--config.critic_optimizer.clip with --config.objective.method=gan"),
    ([MNIST, "--config.generator_optimizer.clip=0.01"], "--config.generator_optimizer.clip:"),
    ([TOY, "--config.objective.gp_weight=0"],
     "--config.objective.gp_weight=0 with --config.objective.method=wgan-gp"),
    ([TOY, "--config.schedule.steps_per_dispatch=4"],
     "--config.schedule.steps_per_dispatch=4 does not divide run.checkpoint_every=10"),
]


@pytest.mark.parametrize("args, warning", WARNING_CASES)
def test_poor_combinations_warn(args, warning):
  parse("train_images", [*args, "--workdir=/unused"])
  warnings = checks.check_config(flags.FLAGS.config)
  assert len(warnings) == 1 and warnings[0].startswith(warning), warnings
  assert "\n" not in warnings[0]


def test_shipped_configs_pass_without_warnings():
  for args in ([TOY], [MNIST], [f"--config={CONFIGS}/toy.py"], [f"--config={CONFIGS}/mnist.py"],
               [f"--config={CONFIGS}/cifar10.py"], [f"--config={CONFIGS}/lsun64.py:gan-mlp"],
               [f"--config={CONFIGS}/lsun64.py:wgan-nobn"], [GAUSSIANS],
               [f"{GAUSSIANS}:quick"]):
    parse("train_images", [*args, "--workdir=/unused"])
    assert checks.check_config(flags.FLAGS.config) == [], args


# experiments/gaussians.py and experiments/sample.py: their mains in one subprocess each.
DRIVER = r"""
import contextlib, importlib.util, io, json, os, sys
from absl import flags
from wgan_jax import cli
script, cases = sys.argv[1], json.loads(sys.stdin.read())
spec = importlib.util.spec_from_file_location("launcher", script)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
results = []
for argv in cases:
  flags.FLAGS.unparse_flags()
  for name in list(flags.FLAGS):  # ml_collections defines one flag per override it parses
    if name.startswith("config."):
      delattr(flags.FLAGS, name)
  sys.modules.pop("config_config", None)  # ml_collections loads every config file under one name
  sys.argv = [script, *argv]
  err, code = io.StringIO(), 0
  with contextlib.redirect_stderr(err):
    try:
      module.main(cli.parse_or_exit([script, *argv]))
    except SystemExit as e:
      code = e.code
  results.append([code, err.getvalue()])
print(json.dumps(results))
"""

# A run's error names the run (<dataset>/<method>) and the field of the run's config.
GAUSSIANS_CASES = [
    ([GAUSSIANS, "--config.variants.wgan.generator_optimizer.learning_rate=inf"],
     "ring8/wgan: --config.generator_optimizer.learning_rate must be a finite number above 0, "
     "got inf"),
    ([GAUSSIANS, "--config.variants.wgan_gp.critic_optimizer.learning_rate=0"],
     "ring8/wgan-gp: --config.critic_optimizer.learning_rate must be a finite number above 0, "
     "got 0.0"),
    ([GAUSSIANS, "--config.objective.gp_weight=inf"],
     "--config.objective.gp_weight must be a finite number of at least 0, got inf"),
    ([GAUSSIANS, "--config.variants.gan.critic_optimizer.b1=-0.1"],
     "ring8/gan: --config.critic_optimizer.b1 must lie in [0, 1), got -0.1"),
    ([GAUSSIANS, "--config.sweep.runs="], "--config.sweep.runs is empty"),
    ([GAUSSIANS, "--config.sweep.datasets=ring8,ring8"],
     "--config.sweep.datasets lists a name twice"),
    # The reproduction counts modes: it needs at least one 2-D Gaussian mixture, and only those.
    ([GAUSSIANS, "--config.sweep.datasets="],
     "--config.sweep.datasets is empty; name at least one of ring8, grid25"),
    *[([GAUSSIANS, f"--config.sweep.datasets=ring8,{name}"],
       f"--config.sweep.datasets: {name} is no 2-D Gaussian mixture, so its modes cannot be "
       f"counted; choose from ring8, grid25")
      for name in ("swissroll", "parallel_lines", "gaussian_1d")],
    ([GAUSSIANS, "--config.sweep.runs=wgan,dcgan"], "--config.sweep.runs: unknown name 'dcgan'"),
    ([GAUSSIANS, "--config.objective.gan_generator_loss=hinge"],
     "--config.objective.gan_generator_loss: unknown generator loss 'hinge'"),
    ([GAUSSIANS, "--config.run.seeds=0"], "--config.run.seeds must be at least 1, got 0"),
    ([GAUSSIANS, "--config.run.jobs=0"], "--config.run.jobs must be at least 1, got 0"),
    ([GAUSSIANS, "--config.generator.hidden=1.5"], "--config.generator.hidden=1.5"),
    ([GAUSSIANS, "--config.eval.curve_samples=0"],
     "--config.eval.curve_samples must be at least 1"),
    ([GAUSSIANS, "--config.eval.snapshots=(0.5,2)"],
     "--config.eval.snapshots must be fractions in (0, 1]"),
    ([GAUSSIANS, "--config.variants.wgan.no_such=1"],
     "--config.variants.wgan.no_such: the config has no field 'no_such'"),
    ([GAUSSIANS, "--workdir={data}/a_file"], "exists and is not a directory"),
    ([GAUSSIANS, "extra_argument"], "unexpected arguments: extra_argument"),
    # Once a subprocess each in test_gaussians.py (which keeps the default config's own cases).
    ([GAUSSIANS, "--config.variants.wgan.critic_optimizer.clip=0"],
     "ring8/wgan: --config.critic_optimizer.clip must be a finite number above 0"),
    ([GAUSSIANS, "--config.variants.wgan.critic_optimizer.clip=-0.01"],
     "ring8/wgan: --config.critic_optimizer.clip must be a finite number above 0"),
    ([GAUSSIANS, "--config.schedule.batch_size=0"],
     "--config.schedule.batch_size must be at least 1"),
    ([GAUSSIANS, "--config.sweep.runs=wgan,vae"], "--config.sweep.runs: unknown name 'vae'"),
    ([GAUSSIANS, "--config.sweep.datasets=ring9"],
     "--config.sweep.datasets: unknown name 'ring9'"),
    ([GAUSSIANS, "--config.variants.wgan_gp.critic_optimizer.b1=1.5"],
     "ring8/wgan-gp: --config.critic_optimizer.b1 must lie in [0, 1)"),
    ([GAUSSIANS, "--config.eval.snapshots=(0,1)"], "--config.eval.snapshots"),
]


def run_driver(script: str, cases: list[list[str]], quiet: bool = False) -> list:
  """[exit status, stderr] of each case; with ``quiet``, nothing else may reach the process's
  own stderr (a library's log line, a traceback printed at exit)."""
  result = subprocess.run([sys.executable, "-c", DRIVER, os.path.join(ROOT, "experiments", script)],
                          input=json.dumps(cases), capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert not quiet or result.stderr == "", result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_gaussians_refuses_bad_flags(tmp_path, data):
  workdir = tmp_path / "run"
  cases = [[a.replace("{data}", str(data)) for a in args] for args, _ in GAUSSIANS_CASES]
  cases = [args if any(a.startswith("--workdir") for a in args) else [*args, f"--workdir={workdir}"]
           for args in cases]
  before = snapshot(data)
  for (code, err), (args, message) in zip(run_driver("gaussians.py", cases), GAUSSIANS_CASES):
    lines = err.strip().splitlines()
    assert code == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, err)
  assert not workdir.exists()
  assert snapshot(data) == before


def test_sample_refuses_bad_input(tmp_path, data):
  out = tmp_path / "out"
  cases = [
      ([f"--workdir={tmp_path / 'none'}", f"--out={out}"], "holds no run"),
      ([f"--workdir={data}", "--num=0", f"--out={out}"], "--num must be at least 1, got 0"),
      ([f"--workdir={data}", "--format=gif"], "--format"),
      ([f"--workdir={data}", f"--out={data}/a_file"], "--out"),
      ([f"--workdir={data}", f"--out={out}"], "holds no run"),
  ]
  before = snapshot(data)
  for (code, err), (args, message) in zip(run_driver("sample.py", [a for a, _ in cases]), cases):
    lines = err.strip().splitlines()
    assert code == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, err)
  assert not out.exists()
  assert snapshot(data) == before


def test_batch_not_divisible_by_the_devices(tmp_path, capsys, monkeypatch):
  # One CPU device here: the check is shown with the device count it would meet on 4.
  monkeypatch.setattr(jax, "device_count", lambda: 4)
  workdir = tmp_path / "run"
  status = run_main("train_images", [TOY, "--config.run.data_parallel=True",
                                     "--config.schedule.batch_size=30", f"--workdir={workdir}"])
  lines = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and lines == [
      "error: --config.schedule.batch_size=30 is not divisible by the 4 devices that "
      "--config.run.data_parallel splits it over"]
  assert not workdir.exists()


# What every launcher must refuse before it writes or trains anything: workdirs it cannot use,
# config files that do not load, numbers too large for their type or for the machine, files of an
# earlier run that do not parse. One subprocess per launcher; each case in it must end with exit
# status 2 and one line, and nothing else may reach the process's stderr.
CONFIG_FILES = {
    "syntax.py": "def get_config(:\n",
    "raises.py": "def get_config():\n  raise RuntimeError('boom')\n",
    "returns_none.py": "def get_config():\n  return None\n",
    "no_get_config.py": "x = 1\n",
}
BIG = 2**62  # beyond int32, within what absl parses


def physical_memory() -> int:
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.fixture
def bad_inputs(tmp_path, data):
  """A folder holding every kind of bad state, and the workdirs no launcher can use:
  (root, [(workdir, message)]). As root, whom permissions do not stop, the unwritable one is a
  read-only bind mount; it is left out where that cannot be made."""
  root = tmp_path / "inputs"
  root.mkdir()
  (root / "a_file").write_text("keep me")
  os.symlink(root / "nowhere", root / "dangling")
  for name, text in CONFIG_FILES.items():
    (root / name).write_text(text)
  (root / "bad_json_run").mkdir()
  (root / "bad_json_run" / "config.json").write_text('{"method": }')
  (root / "bad_metrics_run").mkdir()
  (root / "bad_metrics_run" / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
  (root / "toy_run").mkdir()
  (root / "toy_run" / "config.json").write_text(toy_config().to_json())
  (root / "paper").mkdir()
  (root / "paper" / "run.json").write_text('{"quick": tru')
  (root / "paper_result" / "lines").mkdir(parents=True)
  (root / "paper_result" / "run.json").write_text('{"quick": true}')
  (root / "paper_result" / "lines" / "result.json").write_text("[1, 2")
  (root / "quick_paper").mkdir()
  (root / "quick_paper" / "run.json").write_text('{"quick": true}')
  locked = root / "read_only"
  locked.mkdir()
  (locked / "kept.txt").write_text("kept")
  workdirs = [(root / "dangling", "is a symbolic link to"),
              (root / "a_file" / "run", "which is a file, not a folder"),
              (root / "a_file", "exists and is not a directory"),
              (long_path(root, PATH_MAX - files.PATH_ROOM), f"is {PATH_MAX - files.PATH_ROOM} "
               f"bytes long, and a run writes paths up to {files.PATH_ROOM} bytes longer"),
              (root / ("n" * (NAME_MAX + 1)) / "run",
               f"is {NAME_MAX + 1} bytes, more than the {NAME_MAX} a name may have here")]
  mounted = False
  if os.geteuid() != 0:
    locked.chmod(0o555)
    workdirs += [(locked, "cannot be written"), (locked / "run", "cannot be written")]
  elif subprocess.run(["mount", "--bind", "-o", "ro", str(locked), str(locked)],
                      capture_output=True).returncode == 0:
    mounted = True
    workdirs += [(locked, "is on a read-only file system"),
                 (locked / "run", "is on a read-only file system")]
  try:
    yield root, workdirs
  finally:
    if mounted:
      subprocess.run(["umount", str(locked)], check=True)
    locked.chmod(0o755)


# The kernel's limits on a path and on one name in it, read independently of wgan_jax.files.
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
NAME_MAX = os.pathconf("/", "PC_NAME_MAX")


def long_path(root, length: int) -> str:
  """A folder below ``root`` (not made) whose absolute path is ``length`` bytes."""
  path = os.path.abspath(root)
  while len(path) < length:
    left = length - len(path)  # the separator included; never leave 1, which no name fits
    path = os.path.join(path, "d" * (left - 1 if left <= NAME_MAX + 1 else min(NAME_MAX, left - 3)))
  assert len(os.fsencode(path)) == length
  return path


def toy_config():
  from wgan_jax.configs import toy  # pylint: disable=import-outside-toplevel
  return toy.get_config("tiny")


def launcher_cases(script: str, root, workdirs, data) -> list:
  """(arguments, message) of the bad inputs of experiments/<script>.py."""
  usable = root / "unused"
  toy_bytes = 4 * (2 * 2 + 2 + 16)  # real + fake 2-D points, noise, a 16-unit layer (float32)
  # The widest toy MLPs whose 2 x 2 hidden-to-hidden kernels (float32) fit in memory; their
  # state, 3 copies of them (parameters and Adam's two moments), does not.
  toy_hidden = math.isqrt(physical_memory() // (4 * 2 * 2))
  if script == "train_images.py":
    return [*[([TOY, f"--workdir={w}"], m) for w, m in workdirs],
            ([TOY], "--workdir is required: where checkpoints, logs and samples go"),
            ([f"--workdir={usable}"], "--config is required: a config file of wgan_jax/configs/"),
            ([], "--config and --workdir are required"),
            ([f"--config={root}/syntax.py", f"--workdir={usable}"],
             f"--config: {root}/syntax.py line 1 raised SyntaxError: invalid syntax"),
            ([f"--config={root}/raises.py", f"--workdir={usable}"],
             f"--config: {root}/raises.py line 2 raised RuntimeError: boom"),
            ([f"--config={root}/returns_none.py", f"--workdir={usable}"],
             f"get_config() of {root}/returns_none.py returned None"),
            ([f"--config={root}/no_get_config.py", f"--workdir={usable}"],
             f"--config: {root}/no_get_config.py defines no get_config() function"),
            ([TOY, "--config.run.seed=1180591620717411303424", f"--workdir={usable}"],
             "--config.run.seed must be at most 4294967295"),
            ([TOY, f"--config.schedule.batch_size={BIG}", f"--workdir={usable}"],
             f"--config.schedule.batch_size must be at most 2147483647 (counts and shapes are "
             f"32-bit integers), got {BIG}"),
            ([TOY, f"--config.schedule.batch_size={2**31 - 1}", f"--workdir={usable}"],
             f"use at most {physical_memory() // toy_bytes}"),
            ([MNIST, f"--config.data.dataset=folder:{data}/corrupt_only", f"--workdir={usable}"],
             "has no image that can be decoded (1 unreadable JPEG/PNG files, e.g. broken.png)"),
            ([TOY, f"--workdir={root}/bad_metrics_run"],
             f"{root}/bad_metrics_run/metrics.jsonl:2: not a JSON line"),
            # Toy MLPs whose hidden-to-hidden kernels (2 of H x H per network, float32) fit, but
            # not with the other network's and Adam's two moments: the state is refused.
            ([TOY, f"--config.generator.hidden={toy_hidden}",
              f"--config.critic.hidden={toy_hidden}", f"--workdir={usable}"],
             "the networks and optimiser states need"),
            ([MNIST, "--config.generator.features=100000", "--config.critic.features=100000",
              f"--workdir={usable}"], "the networks and optimiser states need")]
  if script == "gaussians.py":
    def sizes(hidden=64):  # 3 seeds, 3 hidden layers, 2-D noise and points, float32
      return [GAUSSIANS, "--config.run.seeds=3", f"--config.generator.hidden={hidden}",
              f"--config.critic.hidden={hidden}", "--config.generator.depth=3",
              "--config.critic.depth=3", "--config.generator.noise_dim=2"]
    return [*[([GAUSSIANS, f"--workdir={w}"], m) for w, m in workdirs],
            ([GAUSSIANS, f"--config.eval.samples={BIG}", f"--workdir={usable}"],
             "--config.eval.samples must be at most 2147483647"),
            ([GAUSSIANS, "--config.eval.samples=1000000", f"--workdir={usable}"],
             f"use at most {math.isqrt(physical_memory() // 8)}"),  # N x N float64 distances
            ([*sizes(1000000), f"--workdir={usable}"],  # 2 kernels of H x H per network
             f"use at most {math.isqrt(physical_memory() // (4 * 3 * 2))}"),
            ([*sizes(), f"--config.schedule.batch_size={2**31 - 1}", f"--workdir={usable}"],
             f"use at most {physical_memory() // (4 * 3 * (2 * 2 + 2 + 64))}")]
  if script == "sample.py":
    run = root / "toy_run"
    return [*[([f"--workdir={run}", f"--out={w}"], m.replace("workdir", "out"))
              for w, m in workdirs],
            ([], "--workdir is required: the run's workdir (holds checkpoints/)"),
            ([f"--workdir={run}", f"--num={BIG}"], "--num must be at most 2147483647"),
            ([f"--workdir={run}", f"--num={2**31 - 1}"],
             f"use at most {physical_memory() // toy_bytes}"),
            ([f"--workdir={run}", f"--seed={2**40}"], "--seed must be at most 4294967295"),
            ([f"--workdir={root}/bad_json_run"],
             f"{root}/bad_json_run/config.json cannot be read as JSON")]
  if script == "reproduce_mnist.py":
    return [*[([MNIST_REPRODUCTION, f"--workdir={w}"], m) for w, m in workdirs],
            ([MNIST_REPRODUCTION], "--workdir is required: where the runs, the summary and the "
                                   "sheets go"),
            ([MNIST_REPRODUCTION, f"--workdir={usable}", f"--config.run.seed={2**40}"],
             "--config.run.seed must be at most 4294967295"),
            ([MNIST_REPRODUCTION, f"--workdir={usable}", f"--config.schedule.batch_size={BIG}"],
             "--config.schedule.batch_size must be at most 2147483647"),
            ([MNIST_REPRODUCTION, f"--workdir={usable}", "--config.eval.real=5001"],
             "--config.eval.real must be at most 5000"),
            ([MNIST_REPRODUCTION, f"--workdir={usable}", f"--config.eval.samples={2**31 - 1}"],
             f"use at most {physical_memory() // (4 * 28 * 28)}"),  # 28 x 28 float32 digits
            ([MNIST_REPRODUCTION, f"--workdir={usable}", "--config.schedule.num_steps=5"],
             "--config.schedule.num_steps: the config has no field"),
            ([MNIST_REPRODUCTION, f"--workdir={usable}", "--config.generator.features=100000",
              "--config.critic.features=100000"], "optimiser states need"),
            # The default config (what the launcher loads without --config), named; once a
            # subprocess each in test_reproduce_mnist.py.
            ([f"--config={CONFIGS}/mnist_reproduction.py", f"--workdir={usable}",
              "--config.variants.wgan_gp_dcgan.schedule.num_steps=0"],
             Whole("wgan_gp_dcgan: --config.schedule.num_steps must be at least 1, got 0")),
            ([f"--config={CONFIGS}/mnist_reproduction.py", f"--workdir={usable}",
              "--config.sweep.runs=wgan_gp"],
             Whole("--config.sweep.runs: unknown name 'wgan_gp'; choose from gan_mlp, "
                   "wgan_dcgan, wgan_gp_dcgan, wgan_mlp"))]
  assert script == "reproduce_paper.py"
  return [*[([f"--workdir={w}", "--quick"], m) for w, m in workdirs],
          ([f"--workdir={root}/paper", "--quick"], f"{root}/paper/run.json cannot be read as JSON"),
          ([f"--workdir={root}/paper_result", "--quick", "--parts=lines"],
           f"{root}/paper_result/lines/result.json cannot be read as JSON"),
          # Once a subprocess each in test_paper_report.py.
          ([f"--workdir={usable}", "--parts=lines,bogus"], "--parts: unknown part 'bogus'"),
          ([f"--workdir={usable}", "--quick=maybe"], "quick"),
          ([f"--workdir={usable}", "extra"], "unexpected arguments: extra"),
          # A full run asked for in the workdir of a quick one.
          ([f"--workdir={root}/quick_paper", "--parts=lines"],
           Whole(f"--workdir {str(root / 'quick_paper')!r} holds a quick (smoke test) run; use "
                 f"another workdir or add --quick"))]


@pytest.mark.parametrize("script", ["train_images.py", "gaussians.py", "sample.py",
                                    "reproduce_mnist.py", "reproduce_paper.py"])
def test_every_launcher_refuses_what_it_cannot_use(bad_inputs, data, script):
  root, workdirs = bad_inputs
  cases = launcher_cases(script, root, workdirs, data)
  before = snapshot(root)
  results = run_driver(script, [args for args, _ in cases], quiet=True)
  for (code, err), (args, message) in zip(results, cases):
    assert code == 2, (args, err)
    assert refused(err.strip().splitlines(), message), (args, err)
  assert snapshot(root) == before
  assert not (root / "unused").exists()
