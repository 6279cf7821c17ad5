"""How much slower XLA runs a DCGAN critic's gradient inside a loop than outside one.

    .venv/bin/python benchmarks/cpu_conv_loops.py

On CPU this is why the image configs set ``unroll=True`` (see GANSpec.unroll). Prints the time
of one critic gradient (28x28 MNIST-sized batch of 64, 32 filters) jitted alone and as the body
of a one-iteration ``lax.scan``.
"""

import time

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


def main():
  critic = models.DCGANCritic(28, 1, features=32, norm="batch")
  x = jnp.ones((64, 28, 28, 1))
  variables = critic.init(jax.random.key(0), x)

  def grad(params):
    loss = lambda p: critic.apply({**variables, "params": p}, x, train=True,
                                  mutable=["batch_stats"])[0].sum()
    return jax.grad(loss)(params)

  def in_loop(params):
    return jax.lax.scan(lambda p, _: (grad(p), None), params, None, length=1)[0]

  alone = timed_ms(jax.jit(grad), variables["params"])
  looped = timed_ms(jax.jit(in_loop), variables["params"])
  print(f"{jax.devices()[0].platform}: critic gradient alone {alone:.1f} ms, "
        f"inside lax.scan {looped:.1f} ms ({looped / alone:.1f}x)")


if __name__ == "__main__":
  main()
