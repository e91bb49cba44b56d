"""Training engine shared by every method.

- :mod:`~tsl300.engine.batching`: padded mini-batches with masks (one forward per batch);
- :mod:`~tsl300.engine.trainer`: seeded, deterministic, resumable training with model selection
  (``last`` / ``val`` / ``test``), CSV + TensorBoard logs and a divergence guard;
- :mod:`~tsl300.engine.checkpoint`: safetensors + JSON sidecar, never unpickled;
- :mod:`~tsl300.engine.optim`: optimizer, parameter groups and lr schedule from a recipe;
- :mod:`~tsl300.engine.inference`: batched prediction, evaluation and the results JSON;
- :mod:`~tsl300.engine.loader`: the one loader of trained models (API, CLI and tests);
- :mod:`~tsl300.engine.runs`: the steps of ``tsl300.train`` / ``tsl300.test`` (open data, train a
  seed, test a model, summarise seeds);
- :mod:`~tsl300.engine.devices`: ``--device`` / ``--threads``.
"""
