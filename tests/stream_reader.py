"""One process of tests/test_distributed.py's streamed read: the first dispatches of a folder's
stream over 2 processes of 2 CPU devices, and which images this process decoded.

    python tests/stream_reader.py FOLDER PORT PROCESS_ID BATCH ITERATIONS OUT.json
"""

import json
import sys

import jax
import numpy as np

from wgan_jax import parallel
from wgan_jax.data import sources
from wgan_jax.data import stream


def main(folder, port, process_id, batch, iterations, out):
  parallel.initialize(f"localhost:{port}", 2, int(process_id), heartbeat_timeout_s=10)
  images = sources.open_images(f"folder:{folder}", 8, 1)
  feed = stream.StreamFeed(images, int(batch), 0, np.ones_like,
                           parallel.stream_sharding(parallel.data_mesh()), read_threads=0,
                           buffer_size=0)
  fed = feed(0, int(iterations))
  feed.close()
  shards = sorted(fed.batches.addressable_shards, key=lambda s: s.index[1].start or 0)
  pixels = np.concatenate([np.asarray(s.data) for s in shards], axis=1)  # this process's rows
  with open(out, "w") as f:
    json.dump({"decoded": images.decoded, "rows": (pixels[:, :, 0, 0, 0] // 10).tolist()}, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
