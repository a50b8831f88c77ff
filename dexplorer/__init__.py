"""Diffusion Explorer: watch 2D samples flow from a Gaussian (t=0) to data (t=1)."""

__version__ = "0.1.0"
