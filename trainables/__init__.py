"""Learned tuners of the seed papers, trained with Ray Train.

Layers, each in its own folder:

- ``lakehelm``: the LakeHelm data layout (latency CSVs, Spark plans, column statistics), its evaluation protocol
  and baselines. Plain Python + NumPy; no torch, no Ray.
- ``moe``: the two-gate mixture of experts (plan encoder, attention pooling, gates, experts) and its per-worker
  training loop, in plain PyTorch so that it runs with or without Ray.
- ``train``: the thin Ray Train adapter and the ``python -m trainables.train`` command line.
"""
