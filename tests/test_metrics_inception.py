"""The FID Inception and its metrics equal the references' on the same random weights: pytorch-fid
0.3.0's network and FID, torch-fidelity 0.4.0's KID and Inception Score, prdc 0.2's precision,
recall, density and coverage. The reference runs once, as a subprocess in the PyTorch environment
(.venv/torch, which `make test` installs), and nothing is downloaded: its random state dict is the
weights file our side loads. Small images resized to 80x80 keep the network fast."""

import os
import subprocess
import sys

import numpy as np
import pytest

from wgan_jax.metrics import fid as fid_lib
from wgan_jax.metrics import inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "tests", "torch_ref", "inception_reference.py")
TORCH_PYTHON = os.environ.get("WGAN_JAX_TORCH_PYTHON",
                              os.path.join(ROOT, ".venv", "torch", "bin", "python"))
SIZE = 80  # the network's side in these tests (at least inception.MIN_SIZE)
N = 12
# FID on the first d pool3 features: 8 < N takes pytorch-fid's sqrtm path in both; 256 > N
# takes our exact low-rank path against pytorch-fid's sqrtm of singular covariances. (The full
# 2048 would cost minutes of sqrtm in the reference.)
FID_DIMS = (8, 256)
SETTINGS = dict(kid_subsets=5, kid_subset_size=8, isc_splits=3, nearest_k=3, rng_seed=2020)
# Float32 networks of 94 layers computed by two libraries: features agree to this relative
# tolerance (of the largest feature); the statistics computed from them to FEATURE_RTOL * 10.
FEATURE_RTOL = 1e-4
# The same statistic on the same features, computed the same way by both: round-off only. Our
# exact low-rank FID against pytorch-fid's sqrtm of singular covariances: FEATURE_RTOL.
STAT_RTOL = 1e-7


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  if not os.path.exists(TORCH_PYTHON):
    pytest.skip(f"no PyTorch environment at {TORCH_PYTHON} (make test installs it)")
  tmp = tmp_path_factory.mktemp("inception")
  rng = np.random.default_rng(0)
  images_a = rng.uniform(-1, 1, (N, 28, 28, 1)).astype(np.float32)
  # Half of set b lies near set a, so that precision, recall, density and coverage are not 0.
  images_b = np.concatenate([
      np.clip(images_a[:N // 2] + 0.05 * rng.standard_normal((N // 2, 28, 28, 1)), -1, 1),
      rng.uniform(-1, 1, (N - N // 2, 28, 28, 1))]).astype(np.float32)
  # A probe of the resizing in both directions: 28 -> 80 above, 120 -> 80 here.
  probe = rng.uniform(0, 1, (2, 120, 120, 3)).astype(np.float32)
  np.savez(tmp / "in.npz", images_a=images_a, images_b=images_b, resize_probe=probe, size=SIZE,
           fid_dims=np.array(FID_DIMS),
           seed=0, **SETTINGS)
  subprocess.run([TORCH_PYTHON, REFERENCE, str(tmp / "in.npz"), str(tmp / "out.npz")],
                 check=True, capture_output=True, timeout=600)
  ref = dict(np.load(tmp / "out.npz"))
  net = inception.load_weights(tmp / "out.weights.npz", size=SIZE)
  pool_a, logits_a = net.outputs(images_a)
  pool_b, logits_b = net.outputs(images_b)
  ours = dict(pool_a=pool_a, logits_a=logits_a, pool_b=pool_b, logits_b=logits_b)
  return dict(ref=ref, ours=ours, net=net, images_a=images_a, images_b=images_b, probe=probe,
              weights=tmp / "out.weights.npz", tmp=tmp)


def _close(got, want, rtol):
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * float(np.max(np.abs(want))))


def test_resize_is_torchs_bilinear_interpolation(reference):
  _close(inception.resize_like_torch(reference["probe"], SIZE), reference["ref"]["resized_probe"],
         1e-6)


@pytest.mark.parametrize("name", ["pool_a", "pool_b", "logits_a", "logits_b"])
def test_features_and_logits_equal_pytorch_fids_network(reference, name):
  want = reference["ref"][name]
  assert np.count_nonzero(want) > want.size // 10  # the random weights leave features alive
  _close(reference["ours"][name], want, FEATURE_RTOL)


@pytest.mark.parametrize("dims", FID_DIMS)
def test_fid_equals_pytorch_fid(reference, dims):
  ref, ours = reference["ref"], reference["ours"]
  want = float(ref[f"fid_{dims}"])
  assert want > 0
  _close(fid_lib.fid_from_features(ref["pool_a"][:, :dims], ref["pool_b"][:, :dims]), want,
         STAT_RTOL if dims < N else FEATURE_RTOL)
  _close(fid_lib.fid_from_features(ours["pool_a"][:, :dims], ours["pool_b"][:, :dims]), want,
         FEATURE_RTOL * 10)


def test_kid_and_inception_score_equal_torch_fidelity(reference):
  ref, ours = reference["ref"], reference["ours"]
  kw = dict(subsets=SETTINGS["kid_subsets"], subset_size=SETTINGS["kid_subset_size"],
            seed=SETTINGS["rng_seed"])
  _close(fid_lib.kid(ref["pool_a"], ref["pool_b"], **kw), [ref["kid_mean"], ref["kid_std"]],
         STAT_RTOL)
  _close(fid_lib.kid(ours["pool_a"], ours["pool_b"], **kw), [ref["kid_mean"], ref["kid_std"]],
         FEATURE_RTOL * 10)
  kw = dict(splits=SETTINGS["isc_splits"], seed=SETTINGS["rng_seed"])
  _close(fid_lib.inception_score(ref["logits_a"], **kw), [ref["isc_mean"], ref["isc_std"]],
         STAT_RTOL)
  _close(fid_lib.inception_score(ours["logits_a"], **kw), [ref["isc_mean"], ref["isc_std"]],
         FEATURE_RTOL * 10)


def test_precision_recall_density_coverage_equal_prdc(reference):
  ref, ours = reference["ref"], reference["ours"]
  names = ("precision", "recall", "density", "coverage")
  want = [float(ref[k]) for k in names]
  assert any(0 < v < 1 for v in want), want  # not every value 0 or 1
  got = fid_lib.prdc(ref["pool_b"], ref["pool_a"], nearest_k=SETTINGS["nearest_k"])
  assert [got[k] for k in names] == pytest.approx(want, abs=1e-12)
  got = fid_lib.prdc(ours["pool_b"], ours["pool_a"], nearest_k=SETTINGS["nearest_k"])
  assert [got[k] for k in names] == pytest.approx(want, abs=1e-12)


def test_inception_metrics_report_what_they_were_measured_on(reference):
  out = fid_lib.inception_metrics(reference["net"], reference["images_a"], reference["images_b"],
                                  kid_subset_size=100, kid_subsets=5, isc_splits=3, nearest_k=3)
  want = fid_lib.fid_from_features(reference["ours"]["pool_a"], reference["ours"]["pool_b"])
  assert out["fid"] == pytest.approx(want, rel=1e-12)
  assert out["num_generated"] == out["num_real"] == N and out["kid_subset_size"] == N
  assert "80x80" in out["resize"] and out["weights"] == str(reference["weights"])


def test_the_converter_reads_pytorch_fids_pth_format(reference):
  tmp = reference["tmp"]
  subprocess.run([TORCH_PYTHON, "-m", "wgan_jax.metrics.convert_inception",
                  str(tmp / "out.weights.pth"), str(tmp / "converted.npz")],
                 check=True, capture_output=True, cwd=ROOT, timeout=300)
  with np.load(tmp / "converted.npz") as got, np.load(reference["weights"]) as want:
    assert sorted(got.files) == sorted(want.files)
    for key in want.files:
      np.testing.assert_array_equal(got[key], want[key])
  with pytest.raises(ValueError, match="make inception-weights"):
    inception.load_weights(tmp / "out.weights.pth")


def test_a_missing_weights_file_is_a_one_line_error_naming_the_download(tmp_path, monkeypatch):
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  for call in (lambda: inception.weights_path(""),
               lambda: inception.load_weights(tmp_path / "absent.npz")):
    with pytest.raises(ValueError) as error:
      call()
    message = str(error.value)
    assert "\n" not in message and inception.WEIGHTS_URL in message
    assert inception.WEIGHTS_ENV in message


def test_a_file_of_other_weights_is_refused_in_one_line(tmp_path):
  np.savez(tmp_path / "other.npz", w=np.zeros(3))
  with pytest.raises(ValueError, match="does not hold the FID Inception") as error:
    inception.load_weights(tmp_path / "other.npz")
  assert "\n" not in str(error.value)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
