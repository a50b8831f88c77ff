"""The scene: one layer class per visual, each owning its pygfx objects and preallocated
buffers and updated in place. Knows nothing of torch."""
