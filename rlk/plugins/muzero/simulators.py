"""The true environment as MuZero's search simulator (Hamrick et al. 2021, section 4: the learned model
versus the environment itself as the model searched over).

MuZero never builds or names environments: an environment that can be stepped from a saved state
declares its dynamics as a ``rlk.core.types.Simulator`` in its spec (``EnvSpec.simulator``; Catch and
the deterministic pgx games such as ``go_9x9`` do), and the agent factory, which receives the spec, uses
that. A third-party environment gets ``agent.simulator=env`` the same way.
"""

from __future__ import annotations

from rlk.core.errors import RlkError
from rlk.core.types import EnvSpec, Simulator


def true_simulator(spec: EnvSpec) -> Simulator:
    """The simulator ``spec``'s environment declares, or a one-line RlkError where it declares none."""
    if spec.simulator is None:
        raise RlkError(f"agent.simulator='env' needs a JAX env steppable from a saved state (one that declares "
                       f"EnvSpec.simulator, e.g. catch, go_9x9); env '{spec.name}' is not one (use agent.simulator=model)")
    return spec.simulator
