"""Image quality on MNIST: a small digit classifier, and the metrics computed with it.

Classes covered, mean top-class probability, the KL of the class histogram against uniform, and
the Fréchet distance between the classifier's features of generated and real digits.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import time
from typing import Any

from flax import serialization
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from wgan_jax import files
from wgan_jax.data import sources
from wgan_jax.metrics import fid

NUM_DIGITS = 10
DIGIT_SIZE = 28  # the classifier sees 28x28x1 images; other inputs are resized to it
FEATURE_DIM = 128  # width of the penultimate layer, the features of the Frechet distance
# A class is covered when it is the argmax of at least this percentage of the samples: one stray
# sample that happens to look like a digit would otherwise count as a covered class.
COVERAGE_PERCENT = 1
_EVAL_CHUNK = 500  # images per forward call; the last chunk is padded so nothing recompiles
_CLASSIFIER_FORMAT = 1  # bumped when the saved layout changes


class DigitCNN(nn.Module):
  """conv 5x5/2 32 -> conv 5x5/2 64 -> dense 128 (features) -> dense 10 (logits), ReLUs.

  Strided convolutions rather than convolution + max-pooling: on a CPU the training step is
  4 to 6 times faster (24 ms against 90-140 ms for a batch of 128 on 2 cores), and held-out
  accuracy is as high (97-98%). 5x5 kernels gain about half a point over 3x3 ones.
  """

  @nn.compact
  def __call__(self, images_Bx28x28x1):
    x = nn.relu(nn.Conv(32, (5, 5), strides=(2, 2))(images_Bx28x28x1))  # 14x14x32
    x = nn.relu(nn.Conv(64, (5, 5), strides=(2, 2))(x))  # 7x7x64
    x_BxD = x.reshape((x.shape[0], -1))
    features_BxF = nn.relu(nn.Dense(FEATURE_DIM)(x_BxD))
    logits_BxK = nn.Dense(NUM_DIGITS)(features_BxF)
    return logits_BxK, features_BxF


def _to_digit_input(images_BxHxWxC, size: int):
  """Images in [-1, 1] of any square size, 1 or 3 channels -> (B, size, size, 1) for the CNN.

  Three channels are averaged to one: for MNIST loaded with channels=3 (gray repeated) the mean is
  the gray value itself. Other sizes are resized with jax.image.resize's 'linear' method, which
  antialiases when it shrinks (a triangle filter as wide as the scale), so 64x64 -> 28x28 averages
  neighbouring pixels, close to area resampling, instead of skipping rows.
  """
  images = jnp.asarray(images_BxHxWxC, jnp.float32)
  if images.shape[-1] == 3:
    images = jnp.mean(images, axis=-1, keepdims=True)
  if images.shape[1:3] != (size, size):
    images = jax.image.resize(images, (images.shape[0], size, size, 1), method="linear",
                              antialias=True)
  return images


@functools.lru_cache(maxsize=None)
def _forward_fn(size: int):
  """jit(params, images) -> (logits_BxK, features_BxF); one compilation per input shape."""
  model = DigitCNN()

  @jax.jit
  def forward(params, images_BxHxWxC):
    return model.apply({"params": params}, _to_digit_input(images_BxHxWxC, size))

  return forward


def _check_images(images, name: str) -> np.ndarray:
  """images as float32 (N, H, W, C) with N >= 1, H == W, C in {1, 3}, all finite."""
  images = np.asarray(images, dtype=np.float32)
  if images.ndim != 4 or images.shape[0] == 0 or images.shape[1] != images.shape[2] \
      or images.shape[3] not in (1, 3):
    raise ValueError(f"{name} must be a non-empty (N, H, H, C) array with C = 1 or 3; "
                     f"got shape {images.shape}")
  if not np.all(np.isfinite(images)):
    raise ValueError(f"{name} has non-finite pixels; the digit metrics are undefined")
  return images


@dataclasses.dataclass(frozen=True, eq=False)
class DigitClassifier:
  """A trained MNIST digit classifier: frozen parameters and the image size it was trained at.

  ``probs`` and ``features`` take float images in [-1, 1], (N, H, H, C) with C = 1 or 3 and any
  H; they are resized to ``size`` and averaged to one channel (see ``_to_digit_input``), and run
  in jitted chunks of 500 images.

  Attributes:
    params: the Flax parameters of the CNN (strided conv 32, conv 64, dense 128, dense 10).
    size: the side of the images it was trained on (28).
    heldout_accuracy: accuracy on the held-out digits of its training split (nan if unknown).
  """

  params: Any
  size: int = DIGIT_SIZE
  heldout_accuracy: float = float("nan")

  def _outputs(self, images_NxHxWxC) -> tuple[np.ndarray, np.ndarray]:
    images = _check_images(images_NxHxWxC, "images_NxHxWxC")
    forward = _forward_fn(self.size)
    n = images.shape[0]
    chunk = min(n, _EVAL_CHUNK)
    logits, features = [], []
    for start in range(0, n, chunk):
      batch = images[start:start + chunk]
      pad = chunk - batch.shape[0]
      if pad:  # same shape as the other chunks, so no second compilation
        batch = np.concatenate([batch, np.zeros((pad,) + batch.shape[1:], batch.dtype)])
      logits_BxK, features_BxF = forward(self.params, batch)
      logits.append(np.asarray(logits_BxK)[:chunk - pad])
      features.append(np.asarray(features_BxF)[:chunk - pad])
    return np.concatenate(logits), np.concatenate(features)

  def logits(self, images_NxHxWxC) -> np.ndarray:
    """float32 (N, 10): the class logits."""
    return self._outputs(images_NxHxWxC)[0]

  def probs(self, images_NxHxWxC) -> np.ndarray:
    """float64 (N, 10): softmax class probabilities (computed in float64 so rows sum to 1)."""
    return _softmax(self.logits(images_NxHxWxC))

  def features(self, images_NxHxWxC) -> np.ndarray:
    """float32 (N, 128): the penultimate (post-ReLU) activations, for the Frechet distance."""
    return self._outputs(images_NxHxWxC)[1]

  def save(self, path) -> None:
    """Writes the classifier to ``path`` (flax msgpack) atomically: temp file, then os.replace."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": _CLASSIFIER_FORMAT, "size": self.size,
             "heldout_accuracy": float(self.heldout_accuracy),
             "params": serialization.to_state_dict(self.params)}
    payload = serialization.msgpack_serialize(state)
    files.replace_atomically(path, payload)

  @classmethod
  def load(cls, path) -> DigitClassifier:
    """Reads a classifier written by ``save``; ValueError naming the file if it is not one."""
    path = pathlib.Path(path)
    try:
      state = serialization.msgpack_restore(path.read_bytes())
      if state.get("format") != _CLASSIFIER_FORMAT:
        raise ValueError(f"format {state.get('format')!r}, expected {_CLASSIFIER_FORMAT}")
      size = int(state["size"])
      # Restoring onto a freshly initialised template checks every name and shape.
      template = _init_params(jax.random.key(0), size)
      params = serialization.from_state_dict(template, state["params"])
      for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(template)):
        if np.shape(got) != np.shape(want):
          raise ValueError(f"parameter shape {np.shape(got)}, expected {np.shape(want)}")
    except FileNotFoundError:
      raise
    except Exception as error:
      raise ValueError(f"{path} is not a saved DigitClassifier ({error}); delete it to retrain"
                       ) from None
    return cls(params=jax.tree.map(jnp.asarray, params), size=size,
               heldout_accuracy=float(state["heldout_accuracy"]))


def _softmax(logits_NxK) -> np.ndarray:
  logits_NxK = np.asarray(logits_NxK, np.float64)
  exp_NxK = np.exp(logits_NxK - logits_NxK.max(axis=1, keepdims=True))
  return exp_NxK / exp_NxK.sum(axis=1, keepdims=True)


def _init_params(key, size: int):
  return DigitCNN().init(key, jnp.zeros((1, size, size, 1), jnp.float32))["params"]


def digit_split(labels_N, *, seed: int = 0, heldout_per_class: int = 50
                ) -> tuple[np.ndarray, np.ndarray]:
  """A stratified split: (train indices, held-out indices), int64, each sorted.

  ``heldout_per_class`` digits of every class, chosen by a permutation seeded with ``seed``, are
  held out; on the 5,000 offline digits (500 per class) the default gives 4,500 / 500.
  """
  labels_N = np.asarray(labels_N)
  rng = np.random.default_rng(seed)
  heldout = []
  for k in range(NUM_DIGITS):
    members = np.flatnonzero(labels_N == k)
    if members.size <= heldout_per_class:
      raise ValueError(f"class {k} has {members.size} examples; cannot hold out "
                       f"{heldout_per_class} and still train on it")
    heldout.append(rng.permutation(members)[:heldout_per_class])
  heldout_M = np.sort(np.concatenate(heldout))
  train_T = np.setdiff1d(np.arange(labels_N.shape[0]), heldout_M)
  return train_T, heldout_M


@functools.lru_cache(maxsize=None)
def _train_step_fn(learning_rate: float):
  """jit(params, opt_state, images, labels, indices_B) -> (params, opt_state, loss): one Adam step.

  The batch is gathered inside the step from the training set, which stays on the device. Steps
  are dispatched from Python rather than scanned: XLA's CPU backend runs the kernel gradients of
  Flax's convolutions inside a loop several times slower than outside one
  (benchmarks/cpu_conv_loops.py, docs/performance.md).
  """
  model = DigitCNN()
  optimizer = optax.adam(learning_rate)

  def loss_fn(params, images_Bx28x28x1, labels_B):
    logits_BxK, _ = model.apply({"params": params}, images_Bx28x28x1)
    return optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B).mean()

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def train_step(params, opt_state, images_Tx28x28x1, labels_T, indices_B):
    loss, grads = jax.value_and_grad(loss_fn)(params, images_Tx28x28x1[indices_B],
                                              labels_T[indices_B])
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return train_step, optimizer


def train_digit_classifier(images_NxHxWxC, labels_N, *, seed: int = 0, epochs: int = 10,
                           batch_size: int = 128, learning_rate: float = 1e-3,
                           heldout_per_class: int = 50) -> DigitClassifier:
  """Trains the digit CNN with Adam on ``digit_split(labels, seed=seed)``'s training part.

  Args:
    images_NxHxWxC: float images in [-1, 1] (``load_labeled_mnist_offline()``'s first output).
    labels_N: int labels in [0, 10).
    seed: seeds the split, the initialisation and the batch order; same seed, same classifier.
    epochs, batch_size, learning_rate: the training schedule (Adam, constant rate).
    heldout_per_class: digits per class kept out of training to measure ``heldout_accuracy``.

  Returns:
    A DigitClassifier whose ``heldout_accuracy`` is measured on the held-out digits.
  """
  images = _check_images(images_NxHxWxC, "images_NxHxWxC")
  labels_N = np.asarray(labels_N)
  if labels_N.shape != (images.shape[0],) or labels_N.min() < 0 or labels_N.max() >= NUM_DIGITS:
    raise ValueError(f"labels_N must be ({images.shape[0]},) integers in [0, {NUM_DIGITS}); "
                     f"got shape {labels_N.shape}")
  train_T, heldout_M = digit_split(labels_N, seed=seed, heldout_per_class=heldout_per_class)
  if train_T.size < batch_size:
    raise ValueError(f"{train_T.size} training images is fewer than one batch of {batch_size}")

  start = time.perf_counter()
  train_step, optimizer = _train_step_fn(float(learning_rate))
  params = _init_params(jax.random.key(seed), DIGIT_SIZE)
  opt_state = optimizer.init(params)
  images_train = _to_digit_input(images[train_T], DIGIT_SIZE)
  labels_train = jnp.asarray(labels_N[train_T], jnp.int32)
  num_batches = train_T.size // batch_size
  loss = float("nan")
  for epoch in range(epochs):
    # Each epoch visits the training images in a new order; the last partial batch is dropped
    # and the next epoch's order reaches those images.
    order = np.random.default_rng([seed, epoch]).permutation(train_T.size)
    for indices_B in order[:num_batches * batch_size].reshape(num_batches, batch_size):
      params, opt_state, loss = train_step(params, opt_state, images_train, labels_train,
                                           indices_B)
  classifier = DigitClassifier(params=params, size=DIGIT_SIZE)
  predicted_M = classifier.logits(images[heldout_M]).argmax(axis=1)
  accuracy = float(np.mean(predicted_M == labels_N[heldout_M]))
  logging.getLogger(__name__).info(
      "digit classifier: %d epochs on %d images in %.1f s, last batch loss %.4f, held-out "
      "accuracy %.4f on %d images", epochs, train_T.size, time.perf_counter() - start,
      float(loss), accuracy, heldout_M.size)
  return dataclasses.replace(classifier, heldout_accuracy=accuracy)


def get_digit_classifier(cache_path, *, seed: int = 0, epochs: int = 10) -> DigitClassifier:
  """The classifier saved at ``cache_path``, or one trained for ``epochs`` on the offline MNIST
  set and saved.

  A reproduction calls this with a path in its workdir, so the classifier is trained once (a few
  seconds) and every later evaluation uses the same one.
  """
  path = pathlib.Path(cache_path)
  if path.exists():
    return DigitClassifier.load(path)
  images_Nx28x28x1, labels_N = sources.load_labeled_mnist_offline(DIGIT_SIZE, 1)
  classifier = train_digit_classifier(images_Nx28x28x1, labels_N, seed=seed, epochs=epochs)
  classifier.save(path)
  return classifier


def class_kl(counts_K) -> float:
  """KL(p || uniform over K) = sum_k p_k log(p_k K) for p = counts / sum(counts); 0 log 0 = 0."""
  counts_K = np.asarray(counts_K, dtype=np.float64)
  total = counts_K.sum()
  if counts_K.ndim != 1 or total <= 0 or np.any(counts_K < 0):
    raise ValueError(f"counts_K must be non-negative counts with a positive sum; got {counts_K}")
  p_K = counts_K / total
  nz = p_K > 0
  # Rounding can leave a tiny negative value where p is uniform.
  return max(float(np.sum(p_K[nz] * np.log(p_K[nz] * counts_K.size))), 0.0)


def _gaussian_fit(features_NxF: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  features_NxF = np.asarray(features_NxF, np.float64)
  return features_NxF.mean(axis=0), np.cov(features_NxF, rowvar=False)


def digit_metrics(classifier: DigitClassifier, generated_NxHxWxC, real_MxHxWxC=None) -> dict:
  """Quality of generated MNIST digits, judged by ``classifier``.

  Each generated image's class is the argmax of the classifier's probabilities. The MNIST
  reproduction judges 1,000 generated samples against 1,000 real digits.

  Returns a dict:
    classes_covered: int, the number of classes that are the predicted class of at least 1% of the
      generated samples (COVERAGE_PERCENT; at least one sample when N < 100). The threshold keeps
      a few noise images that land on a class from counting it as covered.
    class_kl: float, KL(p || uniform over 10) of the histogram p of predicted classes over all
      samples, 0 log 0 = 0: 0 for balanced classes, log 10 ~ 2.303 for a single class.
    mean_top_prob: float, the mean over samples of the largest softmax probability (confidence:
      near 1 for recognisable digits, lower for ambiguous ones).
    class_histogram: list of 10 ints, the number of samples predicted as each digit.
    frechet (only when ``real_MxHxWxC`` is given): float, the Frechet distance between Gaussians
      fitted to the classifier's 128-d features of the generated and the real images (a FID with
      this classifier in place of Inception; numbers are comparable only between runs that use
      the same classifier and numbers of samples). Needs at least 2 images on each side.
  """
  generated = _check_images(generated_NxHxWxC, "generated_NxHxWxC")
  real = None if real_MxHxWxC is None else _check_images(real_MxHxWxC, "real_MxHxWxC")
  if real is not None and (generated.shape[0] < 2 or real.shape[0] < 2):
    raise ValueError("the Frechet distance needs at least 2 generated and 2 real images; got "
                     f"{generated.shape[0]} and {real.shape[0]}")
  # One forward pass gives both the class probabilities and the features.
  logits_NxK, features_NxF = classifier._outputs(generated)
  probs_NxK = _softmax(logits_NxK)
  n = probs_NxK.shape[0]
  counts_K = np.bincount(probs_NxK.argmax(axis=1), minlength=NUM_DIGITS)
  out = {
      # counts >= 1% of n, in integers so that no float rounding moves the threshold.
      "classes_covered": int(np.count_nonzero(counts_K * 100 >= COVERAGE_PERCENT * n)),
      "class_kl": class_kl(counts_K),
      "mean_top_prob": float(probs_NxK.max(axis=1).mean()),
      "class_histogram": [int(c) for c in counts_K],
  }
  if real is not None:
    out["frechet"] = fid.frechet_distance(*_gaussian_fit(features_NxF),
                                          *_gaussian_fit(classifier.features(real)))
  return out


def digit_metrics_or_nan(classifier: DigitClassifier, generated_NxHxWxC, real_MxHxWxC=None
                         ) -> dict:
  """``digit_metrics``, or for samples that are not finite (a diverged generator) 0 classes, NaN
  for the rest and a ``note``, so that a summary reports the divergence instead of failing."""
  if np.all(np.isfinite(generated_NxHxWxC)):
    return digit_metrics(classifier, generated_NxHxWxC, real_MxHxWxC)
  nan = float("nan")
  return {"classes_covered": 0, "mean_top_prob": nan, "class_kl": nan, "frechet": nan,
          "class_histogram": [0] * NUM_DIGITS, "note": "non-finite samples (diverged)"}


__all__ = ["DigitClassifier", "DigitCNN", "train_digit_classifier", "get_digit_classifier",
           "digit_split", "digit_metrics", "digit_metrics_or_nan", "class_kl", "NUM_DIGITS",
           "DIGIT_SIZE", "FEATURE_DIM", "COVERAGE_PERCENT"]
