"""rlk: a plugin-based JAX framework for reinforcement-learning and generative-model research."""

__version__ = "0.1.0"
