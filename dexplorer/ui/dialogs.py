"""Native file dialogs beside the typed path fields, through imgui-bundle's
portable_file_dialogs (zenity, matedialog, qarma or kdialog on Linux). A dialog runs in its
own process and is polled each frame, so the frames go on while it is open; without a
back-end no dialog is offered and the typed fields are the way to name a file."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence

from imgui_bundle import imgui
from imgui_bundle import portable_file_dialogs as pfd

BACKENDS = ("zenity", "matedialog", "qarma", "kdialog")
"""The programs portable_file_dialogs runs for its dialogs on Linux."""


def available() -> bool:
    """Whether this desktop shows native file dialogs: always on Windows and macOS; on
    Linux, with a display and one of :data:`BACKENDS` installed."""
    if sys.platform in ("win32", "darwin"):
        return True
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return bool(display) and any(shutil.which(name) for name in BACKENDS)


class FileDialogs:
    """Owns the one native file dialog open at a time and what to do with the file chosen
    in it (applied by :meth:`poll` on the frame the dialog is answered; a cancelled dialog
    changes nothing).

    Parameters
    ----------
    enabled : bool, optional
        Whether to offer dialogs; by default whether the desktop has a back-end
        (:func:`available`).
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = available() if enabled is None else enabled
        self._dialog: pfd.open_file | pfd.save_file | None = None
        self._apply: Callable[[str], None] | None = None

    @property
    def pending(self) -> bool:
        """Whether a dialog is open and unanswered."""
        return self._dialog is not None

    def button(
        self,
        label: str,
        title: str,
        filters: Sequence[str],
        apply: Callable[[str], None],
        start: str = "",
        save: bool = False,
    ) -> None:
        """A button that opens a dialog to choose a file to open (or, with ``save``, to save
        to), starting at ``start``; ``apply`` gets the chosen path. Without a back-end
        nothing is drawn; while a dialog is open the button is disabled."""
        if not self.enabled:
            return
        imgui.begin_disabled(self.pending)
        if imgui.button(label):
            self.open(title, filters, apply, start, save)
        imgui.end_disabled()

    def open(
        self,
        title: str,
        filters: Sequence[str],
        apply: Callable[[str], None],
        start: str = "",
        save: bool = False,
    ) -> bool:
        """Open a dialog (returns at once); ``filters`` pairs a name with its patterns, as
        ``("models", "*.safetensors")``. Returns False when dialogs are off or one is
        open already."""
        if not self.enabled or self.pending:
            return False
        kind = pfd.save_file if save else pfd.open_file
        self._dialog = kind(title, start, list(filters))
        self._apply = apply
        return True

    def poll(self) -> None:
        """Once a frame: when the open dialog has been answered, apply the chosen file (a
        cancelled dialog gives none)."""
        if self._dialog is None or not self._dialog.ready(0):
            return
        chosen = self._dialog.result()
        apply, self._dialog, self._apply = self._apply, None, None
        path = chosen[0] if isinstance(chosen, list) and chosen else chosen
        if isinstance(path, str) and path:
            apply(path)
