"""Checkpoints of a run: orbax save and restore, the state's template, and a run read back.

``Checkpoints`` wraps an orbax ``CheckpointManager`` (complete checkpoints only, the newest that
restores); ``state_template`` gives a run's state shapes without computing them; ``load_config``,
``sample_from_checkpoint`` and ``sample_checkpoints`` read a finished or running run back from its
workdir for sampling and evaluation.
"""

from __future__ import annotations

import os
import sys
import time

from etils import epath
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import loop
from wgan_jax import steps as steps_lib


def state_template(run, seed: int):
  """The shapes and dtypes of the run's state (one seed), without computing it."""
  init_keys, _ = loop.seed_keys([seed])
  return jax.eval_shape(lambda k: steps_lib.init_over_seeds(run.steps.init, k), init_keys)


def load_config(workdir: str):
  """The config a run in ``workdir`` was started with."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{workdir!r} holds no run: {path} is missing")
  config = files.read_json(path)
  if not isinstance(config, dict):
    raise ValueError(f"{path} holds no config (a JSON object); restore it from the run's "
                     f"command")
  return ml_collections.ConfigDict(config)


def sample_from_checkpoint(workdir: str, num: int, seed: int = 0,
                           statistics: str | None = None) -> tuple[np.ndarray, int]:
  """``num`` samples of the generator in the latest checkpoint of ``workdir``, and its step.

  ``statistics`` replaces the run's ``run.sample_statistics`` (batch | running). ValueError when
  ``workdir`` holds no run or no complete checkpoint.
  """
  samples = sample_checkpoints(workdir, num, seed, statistics, latest_only=True)
  if not samples:
    raise ValueError(f"{workdir!r} has no complete checkpoint yet")
  step, samples_N = samples[0]
  return samples_N, step


def sample_checkpoints(workdir: str, num: int, seed: int = 0, statistics: str | None = None,
                       latest_only: bool = False) -> list[tuple[int, np.ndarray]]:
  """[(step, ``num`` samples)] of every checkpoint of ``workdir`` in step order (or of the latest
  one), all drawn from the same noise; arguments as ``sample_from_checkpoint``'s."""
  checks.check_count("--num", num, 1)
  checks.check_seed("--seed", seed)
  config = load_config(workdir)
  if statistics is not None:
    config.run.sample_statistics = statistics
  checks.check_config(config)
  checks.check_count("--num", num, 1, lambda n: n * checks.example_bytes(config), "the samples")
  run = experiment.build(config, with_data=False)
  template = state_template(run, config.run.seed)
  checks.check_state_fits(template, f"the widths in {workdir}/config.json")
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), 1, create=False)
  generate = steps_lib.generate_over_seeds(run.steps)
  keys = jax.random.split(jax.random.key(seed), 1)
  try:
    states = ([checkpoints.restore_latest(template)] if latest_only else
              [checkpoints.restore(step, template) for step in checkpoints.steps()])
  finally:
    checkpoints.close()
  return [(int(state.step), np.asarray(generate(state, keys, num)[0]))
          for state in states if state is not None]


class Checkpoints:
  """orbax-checkpoint: complete checkpoints only, the latest ``keep`` kept.

  orbax writes a checkpoint into ``<step>.orbax-checkpoint-tmp-*`` and renames it to ``<step>``
  when done, so a run killed mid-write leaves a temporary folder that is never listed as a step;
  ``cleanup`` (for the run that owns the folder) removes such leftovers. Should the newest step
  still fail to read (a file system without atomic renames), ``restore_latest`` falls back to the
  one before, with a warning, and (with ``cleanup``) renames the unreadable one to
  ``<step>.unreadable-<ns>``.
  """

  def __init__(self, directory: str, keep: int, create: bool = True, cleanup: bool = False):
    if not create and not os.path.isdir(directory):
      raise ValueError(f"no checkpoints in {directory!r}")
    self.directory, self.owner = directory, cleanup
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                             cleanup_tmp_directories=cleanup))

  def restore_latest(self, template):
    """The newest checkpoint that restores into ``template``'s structure; None when there are
    none; ValueError when there are some but none restores (a config that changed the state's
    structure, say), rather than silently starting again over them."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    steps, failures = sorted(self.manager.all_steps(), reverse=True), []
    for step in steps:
      # Compared before reading any array: a failed read leaves orbax's callbacks pending on a
      # closed event loop, and each prints a traceback at exit.
      mismatch = _mismatch(self.directory, step, abstract)
      if mismatch == _NO_CRITIC_ITER:
        raise ValueError(f"checkpoint {step} in {self.directory} was written before the state "
                         f"counted critic iterations (GANState.critic_iter, which orders the "
                         f"real batches) and cannot be resumed by this version; start the run "
                         f"again in another workdir")
      if mismatch:
        raise ValueError(f"checkpoint {step} in {self.directory} holds another state: "
                         f"{mismatch}; resume with the config the run was started with (its "
                         f"config.json) or use another workdir")
      try:
        state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # orbax and tensorstore raise many kinds for unreadable files
        failures.append(f"checkpoint {step}: "
                        f"{(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}")
        continue
      for failure in failures:
        print(f"warning: {failure}; restored the older checkpoint {step}", file=sys.stderr)
      if failures and self.owner:
        # Renamed out of the way (kept for a post-mortem), so that the resumed run can save
        # those steps again.
        for bad in steps[:len(failures)]:
          bad_path = os.path.join(self.directory, str(bad))
          os.replace(bad_path, f"{bad_path}.unreadable-{time.time_ns()}")
        self.manager.reload()
      return state
    if steps:
      raise ValueError(f"none of the {len(steps)} checkpoints in {self.directory} can be "
                       f"restored with this config ({failures[0]}); resume with the config "
                       f"the run was started with (its config.json) or use another workdir")
    return None

  def save(self, step: int, state) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state))

  def steps(self) -> list[int]:
    """The steps of the complete checkpoints, in increasing order."""
    return sorted(self.manager.all_steps())

  def restore(self, step: int, template):
    """Checkpoint ``step``, restored into ``template``'s structure."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))


  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


# What ``_mismatch`` returns for a checkpoint that lacks only GANState.critic_iter: one written
# by a version of wgan_jax before the real batches were read in epoch order.
_NO_CRITIC_ITER = "no critic_iter"


def _leaf_name(path) -> str:
  return ".".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def _mismatch(directory: str, step: int, abstract) -> str | None:
  """How the arrays of checkpoint ``step`` differ from ``abstract``'s (names, shapes, dtypes);
  None when they agree or when the metadata cannot be read (the restore then decides)."""
  try:
    metadata = ocp.PyTreeCheckpointHandler().metadata(
        epath.Path(os.path.abspath(directory)) / str(step) / "default")
    stored = {_leaf_name(path): leaf for path, leaf in
              jax.tree_util.tree_leaves_with_path(getattr(metadata, "tree", metadata))}
  except Exception:  # unreadable metadata: left to restore_latest's fallback
    return None
  wanted = {_leaf_name(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(abstract)}
  if not stored:
    return None
  missing, extra = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
  if missing == ["critic_iter"] and not extra:
    return _NO_CRITIC_ITER
  if missing or extra:
    return (f"{len(missing)} arrays of this config are not in it (e.g. {missing[0]})" if missing
            else f"it has {len(extra)} arrays this config lacks (e.g. {extra[0]})")
  for name, leaf in wanted.items():
    have = stored[name]
    if tuple(have.shape) != tuple(leaf.shape) or np.dtype(have.dtype) != np.dtype(leaf.dtype):
      return (f"{name} is {np.dtype(have.dtype).name}{list(have.shape)} there, "
              f"{np.dtype(leaf.dtype).name}{list(leaf.shape)} with this config")
  return None
