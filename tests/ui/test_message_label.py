"""The message line every form shows its refusals in (``ui.colors.MessageLabel``): hidden until
shown, word-wrapped, in the red box unless told otherwise, restyled by a message's kind."""

from __future__ import annotations

from PySide6.QtCore import Qt

from reception_app.ui.booking_model import INFO, SUCCESS, Message
from reception_app.ui.colors import ERROR_BOX_STYLE, ERROR_TEXT_STYLE, MESSAGE_STYLES, MessageLabel


def test_a_message_label_is_hidden_until_shown_and_styled_by_kind(qtbot) -> None:
    label = MessageLabel("formMessage", accessible_name="Message", selectable=True)
    qtbot.addWidget(label)
    assert label.objectName() == "formMessage" and label.accessibleName() == "Message"
    assert label.wordWrap() and label.isHidden() and label.styleSheet() == ERROR_BOX_STYLE
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    label.show_text("That time was taken.")
    assert not label.isHidden() and label.text() == "That time was taken." and label.styleSheet() == ERROR_BOX_STYLE
    label.show_message(Message("Booked.", SUCCESS))
    assert label.text() == "Booked." and label.styleSheet() == MESSAGE_STYLES[SUCCESS]
    label.show_text("Holding…", INFO)
    assert label.styleSheet() == MESSAGE_STYLES[INFO]


def test_a_field_error_is_red_words_without_a_box(qtbot) -> None:
    label = MessageLabel("fieldError", style=ERROR_TEXT_STYLE)
    qtbot.addWidget(label)
    assert label.styleSheet() == ERROR_TEXT_STYLE and label.isHidden()
    assert not label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert set(MESSAGE_STYLES) == {"error", "info", "success"}
