"""Letting go of GPU memory: pygfx keeps the last bind groups it made in a cache (up to 128),
and each holds the buffers and textures it binds. A layer that was replaced (new particles,
a closed comparison panel) would stay in memory through them until enough newer ones pushed
it out: with the particles' accumulators that is hundreds of MB over a lesson."""

from __future__ import annotations

from pygfx.renderers.wgpu.engine.utils import gpu_caches


def forget_bindings() -> None:
    """Empty pygfx's bind-group cache, after layers were dropped: what is still drawn keeps
    its bind groups (they are remade from the cache only when something changes)."""
    gpu_caches.bindings.clear()
