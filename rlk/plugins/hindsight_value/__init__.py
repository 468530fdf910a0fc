"""Value-driven hindsight modelling (Guez et al. 2020, HiMo)."""
