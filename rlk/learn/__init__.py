"""Learning machinery every agent shares, as pure functions (optax/rlax style).

``rlk.learn`` imports only ``rlk.core``, ``rlk.nn`` and libraries, and registers nothing: agents and
the Trainer import it. Modules:

- ``optim``: ``OptimConfig`` and ``make_optimiser(config, total_updates)``.
- ``sgd``: ``sgd_step(loss_fn, optimiser, axis_name)``: gradients, their mean over the data axis, the
  update, metrics.
- ``targets``: ``ema_update`` and target-network helpers.
- ``replay``: ``SequenceReplay`` on flashbax.
- ``evaluate``: ``evaluate(agent, env, episodes, key, opponent=None)``.
"""
