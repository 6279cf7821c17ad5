"""The FID, KID, Inception Score and precision/recall of the reference libraries, on random
weights: run by tests/test_metrics_inception.py in the PyTorch environment (.venv/torch).

    python inception_reference.py <in.npz> <out.npz>

in.npz: images_a, images_b (N, H, W, C) float32 in [-1, 1]; size (the side images are resized
to); seed (of the random weights); kid_subsets, kid_subset_size, isc_splits, nearest_k.
out.npz: pool_a, pool_b, logits_a, logits_b, resized_probe, fid_<d>, kid_mean, kid_std, isc_mean, isc_std,
precision, recall, density, coverage; the random state dict goes to <out>.weights.npz and, as
torch.save writes it, <out>.weights.pth.

The network is pytorch-fid's own fid_inception_v3(), its state dict replaced by random weights:
pytorch-fid downloads only in load_state_dict_from_url, which is patched to return them.
"""

import importlib
import sys

import numpy as np
import torch
import torch.library
import torch.nn.functional as F


def _import_torchvision():
  """Imports torchvision when its C extension cannot load: PyPI's torchvision wheel is built
  against CUDA torch, and with the CPU torch of .venv/torch its registrations of detection ops
  (nms, roi_align) fail. Those registrations are skipped; Inception uses none of those ops."""
  names = ("register_fake", "register_autograd", "register_kernel")
  real = {name: getattr(torch.library, name) for name in names}

  def skipping(name):
    def register(op, *args, **kwargs):
      if isinstance(op, str) and op.startswith("torchvision::"):
        return None if args else (lambda fn: fn)
      return real[name](op, *args, **kwargs)
    return register

  for name in names:
    setattr(torch.library, name, skipping(name))
  try:
    importlib.import_module("torchvision")
  finally:
    for name in names:
      setattr(torch.library, name, real[name])


_import_torchvision()
import prdc  # noqa: E402
import pytorch_fid.fid_score  # noqa: E402
import pytorch_fid.inception  # noqa: E402
import torch_fidelity.metric_isc  # noqa: E402
import torch_fidelity.metric_kid  # noqa: E402


def random_state_dict(module: torch.nn.Module, seed: int) -> dict:
  """He-scaled conv and fc weights and non-trivial BatchNorm statistics, so that activations keep
  their scale through the 94 layers and every parameter matters."""
  g = torch.Generator().manual_seed(seed)
  out = {}
  for key, value in module.state_dict().items():
    if key.endswith("num_batches_tracked"):
      out[key] = value
    elif value.ndim in (2, 4):
      fan_in = int(np.prod(value.shape[1:]))
      out[key] = torch.randn(value.shape, generator=g) * np.sqrt(2.0 / fan_in)
    elif key.endswith("running_var") or key.endswith("bn.weight"):
      out[key] = 0.5 + torch.rand(value.shape, generator=g)
    else:  # BatchNorm bias and running mean, fc bias
      out[key] = 0.1 * torch.randn(value.shape, generator=g)
  return out


def main(in_path: str, out_path: str) -> None:
  torch.set_num_threads(2)
  given = np.load(in_path)
  size, seed = int(given["size"]), int(given["seed"])
  template = pytorch_fid.inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  weights = random_state_dict(template, seed)
  pytorch_fid.inception.load_state_dict_from_url = lambda *args, **kwargs: weights
  # resize_input only at 299: pytorch-fid's wrapper always resizes to 299; other sides get the
  # same F.interpolate call here.
  model = pytorch_fid.inception.InceptionV3([3], resize_input=size == 299, normalize_input=True,
                                            use_fid_inception=True).eval()
  fc = pytorch_fid.inception.fid_inception_v3().fc
  outputs = {}
  for name in ("a", "b"):
    images = torch.from_numpy((given[f"images_{name}"] + 1) / 2).permute(0, 3, 1, 2)
    if images.shape[1] == 1:
      images = images.repeat(1, 3, 1, 1)
    if size != 299:
      images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    with torch.no_grad():
      pool = model(images.float())[0].squeeze(-1).squeeze(-1)
      outputs[f"pool_{name}"] = pool.numpy()
      outputs[f"logits_{name}"] = pool.mm(fc.weight.T).numpy()  # torch-fidelity's logits_unbiased
  probe = torch.from_numpy(given["resize_probe"]).permute(0, 3, 1, 2)
  outputs["resized_probe"] = F.interpolate(probe, size=(size, size), mode="bilinear",
                                           align_corners=False).permute(0, 2, 3, 1).numpy()
  # FID on the first fid_dims features: scipy's sqrtm of a 2048 x 2048 product takes minutes on
  # two cores; the features themselves are compared in full.
  for dims in given["fid_dims"]:
    stats = [(p[:, :dims].astype(np.float64).mean(axis=0),
              np.cov(p[:, :dims].astype(np.float64), rowvar=False))
             for p in (outputs["pool_a"], outputs["pool_b"])]
    outputs[f"fid_{dims}"] = pytorch_fid.fid_score.calculate_frechet_distance(*stats[0], *stats[1])
  kid = torch_fidelity.metric_kid.kid_features_to_metric(
      torch.from_numpy(outputs["pool_a"]), torch.from_numpy(outputs["pool_b"]),
      kid_subsets=int(given["kid_subsets"]), kid_subset_size=int(given["kid_subset_size"]),
      verbose=False, rng_seed=int(given["rng_seed"]))
  outputs["kid_mean"], outputs["kid_std"] = kid["kernel_inception_distance_mean"], \
      kid["kernel_inception_distance_std"]
  isc = torch_fidelity.metric_isc.isc_features_to_metric(
      torch.from_numpy(outputs["logits_a"]), splits=int(given["isc_splits"]), shuffle=True,
      rng_seed=int(given["rng_seed"]))
  outputs["isc_mean"], outputs["isc_std"] = isc["inception_score_mean"], isc["inception_score_std"]
  outputs.update(prdc.compute_prdc(real_features=outputs["pool_b"],
                                   fake_features=outputs["pool_a"],
                                   nearest_k=int(given["nearest_k"])))
  np.savez(out_path, **{k: np.asarray(v) for k, v in outputs.items()})
  np.savez(out_path[:-len(".npz")] + ".weights.npz",
           **{k: v.numpy() for k, v in weights.items() if not k.endswith("num_batches_tracked")})
  torch.save(weights, out_path[:-len(".npz")] + ".weights.pth")  # pytorch-fid's file format


if __name__ == "__main__":
  main(*sys.argv[1:])
