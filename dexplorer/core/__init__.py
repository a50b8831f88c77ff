"""The math core: datasets, networks, objectives, samplers, training, checkpoints.

Knows nothing of rendering.
"""
