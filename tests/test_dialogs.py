"""Native file dialogs beside the typed path fields: a chosen file is applied and shown in
the field, a cancelled dialog changes nothing, no back-end leaves the typed fields alone.
ImGui and portable_file_dialogs are replaced by fakes that record what is drawn and made."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import pytest

from dexplorer.state import AppState
from dexplorer.ui import controls, dialogs
from dexplorer.ui.controls import Status
from dexplorer.ui.dialogs import FileDialogs


class FakeImgui:
    """Draws nothing; records the buttons drawn (and those greyed out) and clicks those
    named in ``clicked``."""

    available = 262.0
    """The controls' content width when their scrollbar shows."""
    item_width = 186.0
    """The usual width of a field."""

    def __init__(self, clicked: tuple[str, ...] = ()) -> None:
        self.clicked, self.buttons, self.greyed = set(clicked), [], []
        self.disabled: list[bool] = []
        self.widths: list[float] = []

    def get_style(self) -> SimpleNamespace:
        padding, spacing = SimpleNamespace(x=4.0), SimpleNamespace(x=8.0)
        return SimpleNamespace(frame_padding=padding, item_spacing=spacing)

    def get_content_region_avail(self) -> SimpleNamespace:
        return SimpleNamespace(x=self.available)

    def calc_text_size(self, text: str) -> SimpleNamespace:
        return SimpleNamespace(x=7.0 * len(text))

    def calc_item_width(self) -> float:
        return self.item_width

    def set_next_item_width(self, width: float) -> None:
        self.widths.append(width)

    def button(self, label: str) -> bool:
        self.buttons.append(label)
        if any(self.disabled):
            self.greyed.append(label)
            return False
        return label in self.clicked

    def input_text(self, _: str, text: str) -> tuple[bool, str]:
        return False, text

    def begin_disabled(self, disabled: bool = True) -> None:
        self.disabled.append(disabled)

    def end_disabled(self) -> None:
        self.disabled.pop()

    def same_line(self, *_: object) -> None:
        pass

    def separator_text(self, _: str) -> None:
        pass

    def new_line(self) -> None:
        pass


class FakeDialog:
    """A dialog the test answers: unanswered until ``answer`` is set."""

    made: ClassVar[list[FakeDialog]] = []

    def __init__(self, title: str, start: str = "", filters: list[str] | None = None) -> None:
        self.title, self.start, self.filters = title, start, filters
        self.answer: list[str] | str | None = None
        self.waits: list[int] = []
        FakeDialog.made.append(self)

    def ready(self, timeout: int = 20) -> bool:
        self.waits.append(timeout)
        return self.answer is not None

    def result(self) -> list[str] | str:
        return self.answer


class FakeOpen(FakeDialog):
    pass


class FakeSave(FakeDialog):
    pass


@pytest.fixture
def fakes(monkeypatch):
    """Install the fake dialogs; returns a function that draws a row with some clicks."""
    FakeDialog.made = []
    monkeypatch.setattr(dialogs, "pfd", SimpleNamespace(open_file=FakeOpen, save_file=FakeSave))

    def draw(row, state: AppState, status: Status, *clicked: str) -> FakeImgui:
        fake = FakeImgui(clicked)
        monkeypatch.setattr(controls, "imgui", fake)
        monkeypatch.setattr(dialogs, "imgui", fake)
        row(state, status)
        return fake

    return draw


def recorded(state: AppState, name: str) -> list[tuple]:
    """Replace the state's action ``name`` with one that records its arguments."""
    calls: list[tuple] = []
    setattr(state, name, lambda *args: calls.append(args))
    return calls


ROWS = [  # row, dialog button, kind, path field, state action, its arguments after the path
    (controls.data_file_row, "choose a file...", FakeOpen, "open_path", "open_data", ()),
    (controls.model_row, "save as...##model", FakeSave, "model_path", "save_model", ()),
    (controls.model_row, "load...##model", FakeOpen, "model_path", "load_model", ("cpu",)),
]


@pytest.mark.parametrize(("row", "button", "kind", "name", "action", "extra"), ROWS)
def test_a_chosen_file_is_applied_and_shown_in_the_field(
    fakes, row, button, kind, name, action, extra
):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    calls = recorded(state, action)
    typed = getattr(status, name)
    fakes(row, state, status, button)
    (dialog,) = FakeDialog.made
    assert type(dialog) is kind and dialog.start == typed
    for _ in range(3):  # the frames go on while the dialog is open: polled without waiting
        status.dialogs.poll()
    assert calls == [] and status.dialogs.pending and dialog.waits == [0, 0, 0]
    assert button in fakes(row, state, status, button).greyed  # no second dialog meanwhile
    assert len(FakeDialog.made) == 1
    dialog.answer = ["/data/chosen.file"] if kind is FakeOpen else "/data/chosen.file"
    status.dialogs.poll()
    assert calls == [("/data/chosen.file", *extra)]
    assert getattr(status, name) == "/data/chosen.file" and not status.dialogs.pending
    status.dialogs.poll()
    assert len(calls) == 1  # applied once


@pytest.mark.parametrize(("row", "button", "kind", "name", "action", "extra"), ROWS)
def test_a_cancelled_dialog_changes_nothing(fakes, row, button, kind, name, action, extra):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    calls = recorded(state, action)
    typed = getattr(status, name)
    fakes(row, state, status, button)
    (dialog,) = FakeDialog.made
    dialog.answer = [] if kind is FakeOpen else ""  # what portable_file_dialogs gives
    status.dialogs.poll()
    assert calls == [] and getattr(status, name) == typed and not status.dialogs.pending
    fakes(row, state, status, button)
    assert len(FakeDialog.made) == 2  # the next click opens a new dialog


def test_a_session_saved_and_opened_through_dialogs(fakes, tmp_path):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    state.change(dataset="moons", steps=12)
    fakes(controls.session_row, state, status, "save as...##session")
    FakeDialog.made[-1].answer = str(tmp_path / "lesson.toml")
    status.dialogs.poll()
    assert (tmp_path / "lesson.toml").is_file() and status.session_path.endswith("lesson.toml")
    assert state.message == f"saved session {tmp_path / 'lesson.toml'}"
    fresh, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    fakes(controls.session_row, fresh, status, "open...##session")
    FakeDialog.made[-1].answer = [str(tmp_path / "lesson.toml")]
    status.dialogs.poll()
    assert (fresh.data.dataset, fresh.run.steps) == ("moons", 12)


@pytest.mark.parametrize(
    ("row", "typed"),
    [
        (controls.data_file_row, ["open"]),
        (controls.model_row, ["save", "load"]),
        (controls.session_row, ["save##session", "open##session"]),
    ],
)
def test_without_a_back_end_only_the_typed_fields_show(fakes, row, typed):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=False))
    every = ("choose a file...", "save as...##model", "load...##model")
    drawn = fakes(row, state, status, *every, "save as...##session", "open...##session")
    assert drawn.buttons == typed and FakeDialog.made == []
    assert not status.dialogs.open("title", (), print)


def test_the_typed_field_still_opens_data_beside_the_dialog(fakes):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True), open_path=" a.csv ")
    calls = recorded(state, "open_data")
    drawn = fakes(controls.data_file_row, state, status, "open")
    assert drawn.buttons == ["open", "choose a file..."] and calls == [("a.csv",)]


def test_dialogs_are_offered_with_a_display_and_a_back_end(monkeypatch):
    monkeypatch.setattr(dialogs.sys, "platform", "linux")
    installed: set[str] = set()
    monkeypatch.setattr(dialogs.shutil, "which", lambda name: name if name in installed else None)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    installed.add("kdialog")
    assert not dialogs.available()  # no display
    monkeypatch.setenv("DISPLAY", ":1")
    assert dialogs.available()
    installed.clear()
    assert not dialogs.available()  # no back-end
    assert not FileDialogs().enabled


@pytest.mark.parametrize(
    ("button", "kind"),
    [("screenshot as...##export", "screenshot"), ("record as...##export", "record")],
)
def test_an_export_file_chosen_in_a_dialog_is_asked_of_the_app(fakes, button, kind):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    fakes(controls.export_row, state, status, button)
    (dialog,) = FakeDialog.made
    assert type(dialog) is FakeSave
    dialog.answer = "/tmp/lesson/frame.png" if kind == "screenshot" else "/tmp/lesson/v.mp4"
    status.dialogs.poll()
    assert state.exports == [(kind, dialog.answer)] and status.export_path == dialog.answer


def test_a_cancelled_export_dialog_asks_nothing(fakes):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True))
    fakes(controls.export_row, state, status, "screenshot as...##export")
    FakeDialog.made[0].answer = ""
    status.dialogs.poll()
    assert state.exports == [] and status.export_path == ""


def test_while_recording_the_export_row_offers_stop_and_no_dialog(fakes):
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=True), recording=True)
    drawn = fakes(controls.export_row, state, status, "stop##export")
    assert "record as...##export" not in drawn.buttons and FakeDialog.made == []
    assert state.exports == [("record", "")]


def test_a_typed_path_leaves_room_for_its_buttons_on_its_line(fakes):
    """With their scrollbar the controls are narrower: 'open source' was clipped."""
    state, status = AppState(), Status(dialogs=FileDialogs(enabled=False))

    def source_row(state, status):
        controls.open_file_row(status, "source_path", "open source", print, ("x", "y"))

    (width,) = fakes(source_row, state, status).widths
    button = 7 * len("open source") + 2 * 4 + 8
    assert 0 < width < FakeImgui.item_width and width + button <= FakeImgui.available
    assert fakes(controls.data_file_row, state, status).widths == [FakeImgui.item_width]
    (width,) = fakes(controls.session_row, state, status).widths
    assert width + 2 * (7 * 4 + 2 * 4 + 8) <= FakeImgui.available
