"""Tests for the MNIST image metrics in wgan_jax.metrics: the digit classifier and digit_metrics.

The classifier is trained once for the module on the offline MNIST digits (a few seconds on 2 CPU
cores). Expected values come from formulas worked by hand or from an independent computation.
"""

import math
import os

import jax
import numpy as np
import pytest

from wgan_jax.metrics import digits as metrics
from wgan_jax.data.sources import load_labeled_mnist_offline
from wgan_jax.metrics.digits import (DigitClassifier, class_kl, digit_metrics, digit_split,
                                     get_digit_classifier,
                                     train_digit_classifier)

SEED = 0


@pytest.fixture(scope="module")
def mnist():
  images_Nx28x28x1, labels_N = load_labeled_mnist_offline()
  train_T, heldout_M = digit_split(labels_N, seed=SEED)
  return images_Nx28x28x1, labels_N, train_T, heldout_M


@pytest.fixture(scope="module")
def classifier(mnist):
  images_Nx28x28x1, labels_N, _, _ = mnist
  # Module fixtures start outside conftest's per-test guard; training gets the same guard here.
  with jax.numpy_rank_promotion("raise"):
    return train_digit_classifier(images_Nx28x28x1, labels_N, seed=SEED)


@pytest.fixture(scope="module")
def one_class_images(mnist):
  """The 450 training images of the digit 1: what a generator collapsed on one mode gives."""
  images_Nx28x28x1, labels_N, train_T, _ = mnist
  return images_Nx28x28x1[train_T[labels_N[train_T] == 1]]


def correctly_classified(classifier, mnist, digit, count):
  """``count`` held-out images of ``digit`` that the classifier predicts as ``digit``."""
  images_Nx28x28x1, labels_N, _, heldout_M = mnist
  images = images_Nx28x28x1[heldout_M[labels_N[heldout_M] == digit]]
  images = images[classifier.probs(images).argmax(axis=1) == digit]
  assert images.shape[0] >= count
  return images[:count]


# the classifier -----------------------------------------------------------------------------------

def test_split_is_stratified_and_disjoint(mnist):
  _, labels_N, train_T, heldout_M = mnist
  assert (train_T.size, heldout_M.size) == (4500, 500)
  assert np.intersect1d(train_T, heldout_M).size == 0
  np.testing.assert_array_equal(np.sort(np.concatenate([train_T, heldout_M])), np.arange(5000))
  np.testing.assert_array_equal(np.bincount(labels_N[heldout_M], minlength=10), np.full(10, 50))


def test_heldout_accuracy(classifier, mnist):
  images_Nx28x28x1, labels_N, _, heldout_M = mnist
  predicted_M = classifier.probs(images_Nx28x28x1[heldout_M]).argmax(axis=1)
  accuracy = np.mean(predicted_M == labels_N[heldout_M])
  assert accuracy == pytest.approx(classifier.heldout_accuracy)
  assert accuracy >= 0.9


def test_probs_and_features_shapes(classifier, mnist):
  images_Nx28x28x1 = mnist[0][:7]
  probs_NxK = classifier.probs(images_Nx28x28x1)
  assert probs_NxK.shape == (7, 10)
  np.testing.assert_allclose(probs_NxK.sum(axis=1), 1.0, rtol=1e-12)
  features_NxF = classifier.features(images_Nx28x28x1)
  assert features_NxF.shape == (7, metrics.FEATURE_DIM)
  assert np.all(features_NxF >= 0)  # post-ReLU


def test_chunked_evaluation_matches_one_batch(classifier, mnist):
  # 1,234 images run as 500 + 500 + 234 (padded to 500); the padding must not leak into results.
  images = mnist[0][:1234]
  probs_NxK = classifier.probs(images)
  np.testing.assert_allclose(probs_NxK[1000:], classifier.probs(images[1000:]), atol=1e-6)
  np.testing.assert_allclose(probs_NxK[:3], classifier.probs(images[:3]), atol=1e-6)


def test_32x32_and_three_channel_inputs(classifier, mnist):
  _, labels_N, _, heldout_M = mnist
  images_Nx32x32x1, labels32_N = load_labeled_mnist_offline(size=32)
  np.testing.assert_array_equal(labels32_N, labels_N)
  heldout_Mx32x32x1 = images_Nx32x32x1[heldout_M]
  probs_MxK = classifier.probs(heldout_Mx32x32x1)
  assert np.mean(probs_MxK.argmax(axis=1) == labels_N[heldout_M]) >= 0.9
  # Gray repeated on three channels averages back to the same gray image.
  heldout_Mx32x32x3 = np.repeat(heldout_Mx32x32x1, 3, axis=-1)
  np.testing.assert_allclose(classifier.probs(heldout_Mx32x32x3), probs_MxK, atol=1e-5)
  out = digit_metrics(classifier, heldout_Mx32x32x3, heldout_Mx32x32x1)
  assert out["classes_covered"] == 10
  assert out["frechet"] == pytest.approx(0.0, abs=1e-6)


def test_save_load_round_trip(classifier, mnist, tmp_path):
  path = tmp_path / "nested" / "digit_classifier.msgpack"
  classifier.save(path)
  assert os.listdir(path.parent) == [path.name]  # the temporary file was renamed, not left
  loaded = DigitClassifier.load(path)
  assert (loaded.size, loaded.heldout_accuracy) == (classifier.size, classifier.heldout_accuracy)
  images = mnist[0][:100]
  np.testing.assert_array_equal(loaded.probs(images), classifier.probs(images))
  np.testing.assert_array_equal(loaded.features(images), classifier.features(images))


def test_get_digit_classifier_loads_without_training(classifier, mnist, tmp_path, monkeypatch):
  path = tmp_path / "classifier.msgpack"
  classifier.save(path)

  def fail(*args, **kwargs):
    raise AssertionError("a cached classifier must not be retrained")

  monkeypatch.setattr(metrics, "train_digit_classifier", fail)
  loaded = get_digit_classifier(path)
  images = mnist[0][:10]
  np.testing.assert_array_equal(loaded.probs(images), classifier.probs(images))


def test_load_rejects_a_file_that_is_not_a_classifier(tmp_path):
  path = tmp_path / "bad.msgpack"
  path.write_bytes(b"not msgpack at all")
  with pytest.raises(ValueError, match="not a saved DigitClassifier"):
    DigitClassifier.load(path)


# digit_metrics ------------------------------------------------------------------------------------

def test_real_heldout_digits_score_well(classifier, mnist, one_class_images):
  images_Nx28x28x1, _, train_T, heldout_M = mnist
  heldout = images_Nx28x28x1[heldout_M]
  # The offline set is sorted by class: a random subset of the training part, not its head.
  real = images_Nx28x28x1[np.random.default_rng(0).permutation(train_T)[:2000]]
  out = digit_metrics(classifier, heldout, real)
  assert set(out) == {"classes_covered", "class_kl", "mean_top_prob", "class_histogram",
                      "frechet"}
  assert out["classes_covered"] == 10
  assert sum(out["class_histogram"]) == 500
  assert out["class_kl"] < 0.05
  assert out["mean_top_prob"] > 0.9

  noise = np.random.default_rng(0).uniform(-1, 1, heldout.shape).astype(np.float32)
  noise_out = digit_metrics(classifier, noise, real)
  collapsed_out = digit_metrics(classifier, one_class_images, real)
  # Measured: about 6 for real digits, 830 for noise, 1,100 for the collapsed set.
  assert out["frechet"] < 0.05 * noise_out["frechet"]
  assert out["frechet"] < 0.05 * collapsed_out["frechet"]

  assert collapsed_out["classes_covered"] == 1
  assert collapsed_out["class_histogram"][1] >= 0.99 * one_class_images.shape[0]
  assert collapsed_out["class_kl"] == pytest.approx(math.log(10), abs=0.1)


def test_class_kl_and_coverage_by_hand(classifier, mnist):
  zeros, ones, twos = (correctly_classified(classifier, mnist, d, 2) for d in (0, 1, 2))
  images = np.concatenate([zeros, ones[:1], twos[:1]])  # histogram (2, 1, 1, 0, ..., 0)
  out = digit_metrics(classifier, images)
  assert "frechet" not in out
  assert out["class_histogram"] == [2, 1, 1, 0, 0, 0, 0, 0, 0, 0]
  # p = (1/2, 1/4, 1/4): KL(p || 1/10) = 1/2 log(10/2) + 2 * 1/4 log(10/4).
  assert out["class_kl"] == pytest.approx(0.5 * math.log(5) + 0.5 * math.log(2.5), rel=1e-12)
  assert out["classes_covered"] == 3  # with 4 samples, 1% is less than one sample


def test_coverage_needs_one_percent_of_the_samples(classifier, mnist):
  zeros = correctly_classified(classifier, mnist, 0, 40)
  ones = correctly_classified(classifier, mnist, 1, 2)
  twos = correctly_classified(classifier, mnist, 2, 1)
  # 200 samples: digit 1 has 2 (1%, covered), digit 2 has 1 (0.5%, not covered).
  images = np.concatenate([np.repeat(zeros, 5, axis=0)[:197], ones, twos])
  out = digit_metrics(classifier, images)
  assert out["class_histogram"][:3] == [197, 2, 1]
  assert out["classes_covered"] == 2


def test_class_kl_by_hand():
  assert class_kl([2, 1, 1, 0]) == pytest.approx(0.5 * math.log(2), rel=1e-12)
  assert class_kl([5] * 10) == 0.0
  assert class_kl([0, 0, 7, 0]) == pytest.approx(math.log(4), rel=1e-12)
  with pytest.raises(ValueError):
    class_kl([0, 0])


def test_digit_metrics_rejects_bad_images(classifier):
  with pytest.raises(ValueError, match="non-finite"):
    digit_metrics(classifier, np.full((4, 28, 28, 1), np.nan, np.float32))
  with pytest.raises(ValueError, match="shape"):
    digit_metrics(classifier, np.zeros((4, 28, 28), np.float32))
  with pytest.raises(ValueError, match="at least 2"):
    digit_metrics(classifier, np.zeros((1, 28, 28, 1), np.float32),
                  np.zeros((5, 28, 28, 1), np.float32))
