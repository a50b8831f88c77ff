"""The scene: layers (``layer.Layer``), each owning its pygfx objects and preallocated buffers
and updated in place, gathered in a ``panel.Panel`` per run, laid out 1, 2 or 4 times by
``view.View``. Knows nothing of torch."""
