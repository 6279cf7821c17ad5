"""The data of the experiments, a module per job:

- ``toy``: the 2-D distributions and the 1-D Gaussian, sampled inside jit;
- ``decode``: one image in, uint8 out (``fit_image``, the JPEG/PNG decoding), the pixel
  conversions and ``DataError``;
- ``sources``: where images come from (tfds, folders, the offline MNIST digits): ``ImageSet``,
  the lazy random access, and ``open_images`` / ``load_images``;
- ``order``: the one epoch order of real batches, evaluated in memory and for the stream;
- ``device``: ``DeviceSampler``, the whole set on the device, read inside jit;
- ``stream``: ``StreamFeed``, batches decoded on the host by Grain, each process its rows;

Bad input raises ``DataError`` (a ValueError) with a one-line message; launchers turn it into
exit status 2.
"""
