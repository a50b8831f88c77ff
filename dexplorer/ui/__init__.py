"""The UI: Dear ImGui controls and time bar over the scene. Reads and writes the one
:class:`~dexplorer.state.AppState`; knows nothing of torch internals."""
