"""How much slower XLA runs a convolution's gradient inside a loop than outside one.

    .venv/bin/python benchmarks/cpu_conv_loops.py

On the CPU, autodiff's kernel gradient of a convolution is a convolution whose dimension labels
XLA rewrites into its fast (batch, spatial, feature) form outside loops but not inside them,
where a generic implementation runs it. The DCGAN models' layers (models.Conv4x4) write their
gradients in the fast form. Prints the time of one gradient of the parameters, jitted alone and
as the body of a one-iteration ``lax.scan``, for one Flax ``nn.Conv`` layer and for the DCGAN
critic (MNIST-sized batch of 64, 32 filters).
"""

import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from wgan_jax import models


def timed_ms(fn, *args, repeats=5):
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats * 1000


def alone_and_in_loop(module, x):
  variables = module.init(jax.random.key(0), x)

  def grad(params):
    loss = lambda p: module.apply({**variables, "params": p}, x, mutable=["batch_stats"])[0].sum()
    return jax.grad(loss)(params)

  def in_loop(params):
    return jax.lax.scan(lambda p, _: (grad(p), None), params, None, length=1)[0]

  return timed_ms(jax.jit(grad), variables["params"]), timed_ms(jax.jit(in_loop),
                                                                variables["params"])


def main():
  cases = [("nn.Conv(64, 4x4, stride 2) on 64 x 14 x 14 x 32",
            nn.Conv(64, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1))),
            jnp.ones((64, 14, 14, 32))),
           ("models.DCGANCritic(28, 1, features=32)",
            models.DCGANCritic(28, 1, features=32, norm="batch"), jnp.ones((64, 28, 28, 1)))]
  for name, module, x in cases:
    alone, looped = alone_and_in_loop(module, x)
    print(f"{jax.devices()[0].platform}: {name}: gradient alone {alone:.1f} ms, "
          f"inside lax.scan {looped:.1f} ms ({looped / alone:.1f}x)")


if __name__ == "__main__":
  main()
