"""Checkpoints of a run: orbax save and verified restore, the state's template, and a run read back.

``Checkpoints`` wraps orbax. Every checkpoint carries a digest of its arrays (the sha256 of each
array's bytes, with its dtype and shape, by its name in the state) in its step metadata, which
orbax writes into the checkpoint's temporary folder before the rename that completes it: the
digest and the arrays are committed together. Every restore checks it; a checkpoint that fails,
cannot be read or is incomplete is skipped with one warning line, and the newest that passes is
restored (``restore_latest``); when none passes, ValueError names the folder. A checkpoint saved
without a digest (by an earlier version) is restored with a warning that says so.
``state_template`` gives a run's state shapes without computing them; ``load_config``,
``sample_from_checkpoint`` and ``sample_checkpoints`` read a finished or running run back from
its workdir for sampling and evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time

from etils import epath
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint._src import asyncio_utils as orbax_asyncio

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import loop
from wgan_jax import parallel
from wgan_jax import steps as steps_lib

# The key of the digest in a checkpoint's custom metadata: {array name: {"dtype", "shape",
# "sha256" of its bytes in C order}}.
DIGEST_KEY = "wgan_jax.arrays"
# orbax's file of a step's metadata (custom metadata included), and its folder of the one item a
# manager saves without a name.
STEP_METADATA = "_CHECKPOINT_METADATA"
ITEM = "default"
# How many times a reader lists the checkpoints again when the run that writes them replaced the
# one it was reading.
REREADS = 5


def state_template(run, seed: int):
  """The shapes and dtypes of the run's state (one seed), without computing it, and where it goes:
  replicated over the run's mesh when it has one (every process restores its copies), else on
  the first device, whatever devices saved it (a run over several processes)."""
  init_keys, _ = loop.seed_keys([seed])
  template = jax.eval_shape(lambda k: steps_lib.init_over_seeds(run.steps.init, k), init_keys)
  sharding = (jax.sharding.SingleDeviceSharding(jax.local_devices()[0]) if run.mesh is None
              else parallel.replicated(run.mesh))
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                      template)


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
  """``num`` samples of the generator in the latest checkpoint of ``workdir`` that passes its
  check, and its step.

  ``statistics`` replaces the run's ``run.sample_statistics`` (batch | running). ValueError when
  ``workdir`` holds no run, no complete checkpoint or none that passes its check.
  """
  samples = sample_checkpoints(workdir, num, seed, statistics, latest_only=True)
  if not samples:
    raise ValueError(f"{workdir!r} has no complete checkpoint yet")
  step, samples_N = samples[0]
  return samples_N, step


def sample_checkpoints(workdir: str, num: int, seed: int = 0, statistics: str | None = None,
                       latest_only: bool = False) -> list[tuple[int, np.ndarray]]:
  """[(step, ``num`` samples)] of every checkpoint of ``workdir`` that passes its check, in step
  order (or of the latest one), all drawn from the same noise; arguments as
  ``sample_from_checkpoint``'s."""
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
              checkpoints.restore_all(template))
  finally:
    checkpoints.close()
  return [(int(state.step), np.asarray(generate(state, keys, num)[0]))
          for state in states if state is not None]


def digest(state) -> dict[str, dict]:
  """{name: {"dtype", "shape", "sha256"}} of every array of ``state``, the sha256 of its bytes."""
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(state):
    array = _host_array(leaf)
    out[_leaf_name(path)] = {"dtype": array.dtype.name, "shape": list(array.shape),
                             "sha256": hashlib.sha256(array.tobytes(order="C")).hexdigest()}
  return out


def _host_array(leaf) -> np.ndarray:
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    # The state is replicated (wgan_jax.parallel): this process's copy is the whole array.
    return np.asarray(leaf.addressable_data(0))
  return np.asarray(leaf)


class Unusable(Exception):
  """A checkpoint that cannot be restored as it was saved; the message says why, after its name
  ("checkpoint 80 in <folder> <message>")."""


class Checkpoints:
  """The checkpoints of a run in ``directory``: complete ones only, verified, the latest ``keep``
  kept.

  orbax writes a checkpoint into ``<step>.orbax-checkpoint-tmp-*`` and renames it to ``<step>``
  when done, so a run killed mid-write leaves a temporary folder that is never listed as a step;
  ``cleanup`` (for the run that owns the folder) removes such leftovers. A step that fails its
  check is skipped; with ``cleanup`` it is renamed ``<step>.unreadable-<ns>`` (kept for a
  post-mortem) once an older one restores, so that the resumed run can save that step again.
  Restoring only reads the folder. Without ``cleanup`` another process may be writing it: a
  checkpoint that it replaces while it is read is looked for again in a new listing.
  """

  def __init__(self, directory: str, keep: int, create: bool = True, cleanup: bool = False):
    if not create and not os.path.isdir(directory):
      raise ValueError(f"no checkpoints in {directory!r}")
    self.directory, self.owner, self._keep, self._create = directory, cleanup, keep, create
    # orbax and etils read some characters of a path as a pattern: they get a name without them.
    self._folder = files.LiteralFolder(directory, create=create)
    self._manager = None

  @property
  def manager(self) -> ocp.CheckpointManager:
    """orbax's manager, made at the first save: until then the folder is only read, so a run
    refused over its checkpoints leaves them (temporary folders included) as they were."""
    if self._manager is None:
      if not self._create:
        raise ValueError(f"{self.directory} was opened to be read, not written")
      with _reading():
        self._manager = ocp.CheckpointManager(
            self._folder.path,
            options=ocp.CheckpointManagerOptions(max_to_keep=self._keep, create=True,
                                                 cleanup_tmp_directories=self.owner))
    return self._manager

  def save(self, step: int, state) -> None:
    """Saves ``state`` as checkpoint ``step`` with its digest (in the background: orbax's)."""
    self.manager.save(step, args=ocp.args.StandardSave(state),
                      custom_metadata={DIGEST_KEY: digest(state)})

  def steps(self) -> list[int]:
    """The steps of the complete checkpoints, in increasing order (not yet checked)."""
    try:
      names = os.listdir(self.directory)
    except FileNotFoundError:
      return []
    return sorted(int(n) for n in names if n.isascii() and n.isdigit()
                  and os.path.isdir(os.path.join(self.directory, n)))

  def restore_latest(self, template):
    """The newest checkpoint that passes its check, restored into ``template``'s structure; None
    when there are none. Each newer one skipped is named on stderr with the reason, in one line.

    ValueError when there are some and none passes, or when the newest holds another state (a
    config that changed the networks): never a silent start again over them.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    for _ in range(REREADS):
      steps, skipped = self.steps()[::-1], []
      for step in steps:
        try:
          state, unverified = self._restore(step, abstract)
        except Unusable as e:
          if self._replaced(step, steps):
            break
          skipped.append((step, str(e)))
          continue
        for bad, why in skipped:
          print(f"warning: checkpoint {bad} in {self.directory} {why}; restored the older "
                f"checkpoint {step}", file=sys.stderr)
        if unverified:
          self._warn_unverified(step)
        if skipped and self.owner:
          self._set_aside([bad for bad, _ in skipped])
        return state
      else:
        if not skipped:
          return None
        newest, why = skipped[0]
        others = (f"; the {len(skipped) - 1} older ones fail too" if len(skipped) > 1 else "")
        raise ValueError(f"none of the {len(skipped)} checkpoints in {self.directory} can be "
                         f"restored: checkpoint {newest} {why}{others}; restore the folder from "
                         f"a copy, or move it away to start the run again")
    raise ValueError(f"checkpoint {step} in {self.directory} was replaced while it was read "
                     f"{REREADS} times: the run that writes it saves faster than it can be "
                     f"read; try again, or when that run has stopped")

  def restore_all(self, template) -> list:
    """Every checkpoint that passes its check, in step order; each one skipped is named on stderr
    in one line. ValueError when none passes, as ``restore_latest``."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    states, steps = [], self.steps()
    for step in steps:
      try:
        state, unverified = self._restore(step, abstract)
      except Unusable as e:
        gone = not os.path.isdir(os.path.join(self.directory, str(step)))
        why = "was removed by the run that writes it while it was read" if gone else str(e)
        print(f"warning: checkpoint {step} in {self.directory} {why}; skipped",
              file=sys.stderr)
        continue
      if unverified:
        self._warn_unverified(step)
      states.append(state)
    if steps and not states:
      raise ValueError(f"none of the {len(steps)} checkpoints in {self.directory} can be "
                       f"restored (see the warnings above); restore the folder from a copy")
    return states

  def close(self) -> None:
    try:
      if self._manager is not None:
        self._manager.wait_until_finished()
        self._manager.close()
    finally:
      self._folder.close()

  def _restore(self, step: int, abstract):
    """(state, unverified): checkpoint ``step`` restored and checked against its digest
    (``unverified`` when it has none). Unusable when it cannot be restored as saved; ValueError
    when it holds another state than ``abstract``'s."""
    path = epath.Path(self._folder.path) / str(step)
    with _reading():
      saved = _read_digest(os.path.join(self.directory, str(step), STEP_METADATA))
      stored = _stored_arrays(path)
      if saved is not None and stored is not None:
        differs = _difference(stored, {name: (np.dtype(record["dtype"]), tuple(record["shape"]))
                                       for name, record in saved.items()})
        if differs:
          raise Unusable(f"is damaged: its array metadata disagrees with its digest ({differs})")
      mismatch = _difference(stored, _structure(abstract)) if stored else None
      if mismatch == _NO_CRITIC_ITER:
        raise ValueError(f"checkpoint {step} in {self.directory} was written before the state "
                         f"counted critic iterations (GANState.critic_iter, which orders the "
                         f"real batches) and cannot be resumed by this version; start the run "
                         f"again in another workdir")
      if mismatch:
        raise ValueError(f"checkpoint {step} in {self.directory} holds another state: "
                         f"{mismatch}; resume with the config the run was started with (its "
                         f"config.json) or use another workdir")
      checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
      try:
        state = checkpointer.restore(path / ITEM, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # orbax and tensorstore raise many kinds for unreadable files
        raise Unusable(f"cannot be read: {_first_line(e)}") from None
      finally:
        checkpointer.close()
    if saved is None:
      return state, True
    restored = digest(state)
    differ = [name for name, record in saved.items() if restored.get(name) != record]
    if differ:
      raise Unusable(f"is damaged: {len(differ)} of its {len(saved)} arrays differ from what "
                     f"was saved (e.g. {differ[0]})")
    return state, False

  def _warn_unverified(self, step: int) -> None:
    print(f"warning: checkpoint {step} in {self.directory} carries no digest of its arrays "
          f"(saved by an earlier version); restored it unverified", file=sys.stderr)

  def _replaced(self, step: int, steps: list[int]) -> bool:
    """Whether checkpoint ``step`` failed because the run writing the folder replaced it while it
    was read: it is gone, or a newer one appeared. Never for the folder's owner (the lock keeps
    other runs out)."""
    if self.owner:
      return False
    gone = not os.path.isdir(os.path.join(self.directory, str(step)))
    return gone or max(self.steps(), default=-1) > steps[0]

  def _set_aside(self, steps: list[int]) -> None:
    for bad in steps:
      bad_path = os.path.join(self.directory, str(bad))
      os.replace(bad_path, f"{bad_path}.unreadable-{time.time_ns()}")
    if self._manager is not None:
      with _reading():
        self._manager.reload()


# What ``_difference`` returns for a checkpoint that lacks only GANState.critic_iter: one written
# by a version of wgan_jax before the real batches were read in epoch order.
_NO_CRITIC_ITER = "no critic_iter"


def _leaf_name(path) -> str:
  return ".".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def _first_line(error: BaseException) -> str:
  """The first line of the innermost error behind ``error``: orbax wraps tensorstore's reason in
  messages that print objects' reprs."""
  while error.__cause__ is not None:
    error = error.__cause__
  return files.first_line(error)[:200]


def _structure(tree) -> dict[str, tuple[np.dtype, tuple]]:
  return {_leaf_name(path): (np.dtype(leaf.dtype), tuple(leaf.shape))
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _read_digest(path: str) -> dict | None:
  """The digest in the step metadata file ``path``; None when the checkpoint was saved without
  one. Unusable when the file is missing or does not parse (read here, not through orbax, which
  logs and ignores a damaged file)."""
  try:
    with open(path, "rb") as f:
      metadata = json.loads(f.read())
    saved = (metadata.get("custom_metadata") or {}).get(DIGEST_KEY)
  except FileNotFoundError:
    raise Unusable(f"is incomplete: it has no {STEP_METADATA}") from None
  except (OSError, ValueError, AttributeError) as e:
    raise Unusable(f"is damaged: its {STEP_METADATA} cannot be read ({_first_line(e)})") from None
  if saved is not None and not (isinstance(saved, dict) and all(
      isinstance(r, dict) and {"dtype", "shape", "sha256"} <= set(r) for r in saved.values())):
    raise Unusable(f"is damaged: the digest in its {STEP_METADATA} is malformed")
  return saved


def _stored_arrays(path: epath.Path) -> dict[str, tuple[np.dtype, tuple]] | None:
  """The names, dtypes and shapes of the arrays in checkpoint ``path``, from orbax's metadata,
  read before any array is; None when it lists none. Unusable when it cannot be read."""
  handler = ocp.PyTreeCheckpointHandler()
  try:
    metadata = handler.metadata(path / ITEM)
    stored = _structure(getattr(metadata, "tree", metadata))
  except Exception as e:  # orbax raises many kinds for a missing or damaged file
    raise Unusable(f"cannot be read: its array metadata: {_first_line(e)}") from None
  finally:
    handler.close()
  return stored or None


def _difference(stored: dict, wanted: dict) -> str | None:
  """How the arrays ``stored`` differ from those ``wanted`` (names, dtypes, shapes); None when
  they agree."""
  missing, extra = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
  if missing == ["critic_iter"] and not extra:
    return _NO_CRITIC_ITER
  if missing or extra:
    return (f"{len(missing)} arrays of this config are not in it (e.g. {missing[0]})" if missing
            else f"it has {len(extra)} arrays this config lacks (e.g. {extra[0]})")
  for name, (dtype, shape) in wanted.items():
    have_dtype, have_shape = stored[name]
    if have_shape != shape or have_dtype != dtype:
      return (f"{name} is {have_dtype.name}{list(have_shape)} there, "
              f"{dtype.name}{list(shape)} with this config")
  return None


# Reading a damaged checkpoint, orbax logs what it could not parse (at ERROR, beside the one line
# that names the checkpoint) and leaves reads pending when one fails: its event loop closes under
# them, and each prints a traceback later ("Event loop is closed", "Exception ignored in:
# <coroutine ...>"). While a checkpoint is read, orbax's log lines are held back unless
# --verbosity asked for INFO, and its event loops finish their pending reads before closing.
_ORBAX_DIR = os.path.dirname(ocp.__file__)
_patch = {"lock": threading.Lock(), "depth": 0, "original": None}


class _HoldBackOrbax(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.pathname.startswith(_ORBAX_DIR)


def _run_sync_draining(coro):
  """orbax's ``_run_sync_via_new_loop``, except that when ``coro`` fails, the tasks it started
  finish (or time out) before the loop closes."""
  loop = asyncio.new_event_loop()
  try:
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)
  except BaseException:
    pending = asyncio.all_tasks(loop)
    if pending:
      loop.run_until_complete(asyncio.wait(pending, timeout=60))
    raise
  finally:
    asyncio.set_event_loop(None)
    loop.close()


@contextlib.contextmanager
def _reading():
  """Holds back orbax's log lines and drains its failed reads (see above) for the block."""
  absl_logger = logging.getLogger("absl")
  hold_back = None if absl_logger.isEnabledFor(logging.INFO) else _HoldBackOrbax()
  patchable = hasattr(orbax_asyncio, "_run_sync_via_new_loop")
  with _patch["lock"]:
    if patchable and _patch["depth"] == 0:
      _patch["original"] = orbax_asyncio._run_sync_via_new_loop
      orbax_asyncio._run_sync_via_new_loop = _run_sync_draining
    _patch["depth"] += 1
  if hold_back is not None:
    absl_logger.addFilter(hold_back)
  try:
    yield
  finally:
    if hold_back is not None:
      absl_logger.removeFilter(hold_back)
    with _patch["lock"]:
      _patch["depth"] -= 1
      if patchable and _patch["depth"] == 0:
        orbax_asyncio._run_sync_via_new_loop = _patch["original"]
