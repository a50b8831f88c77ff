"""The engine: devices, trajectory cache and the arrays shared with the renderer.
Knows nothing of ImGui or pygfx."""
