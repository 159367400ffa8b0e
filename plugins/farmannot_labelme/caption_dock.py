"""The caption dock: the 11 FarmSeg-VL keywords as pickers, their sources, suggestions, live EN/ZH preview.

Everything it knows comes from :mod:`farmannot.captions` (vocabulary from ``templates/keywords.yaml``,
auto-fill, suggestions, merging, rendering); the dock only shows keywords and records the annotator's choices.
A keyword's source is shown beside it: ``auto`` (read from the scene), ``suggested`` (computed, with its
evidence in the tooltip, to be confirmed) or ``confirmed`` (chosen or accepted by a person).
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.captions.render import missing_keywords, render_caption
from farmannot.captions.schema import FARMSEG_KEYWORDS, SURROUNDINGS, Keyword, load_vocabulary
from farmannot.errors import FarmannotError

FAMILY = "farmseg"
_UNSET = "—"
_BADGE_COLOURS = {"auto": "#1f6feb", "suggested": "#b35900", "confirmed": "#1a7f37"}
_REFUSED = "#cf222e"
NOT_SAVED = "not saved"  # the badge of a typed value that was refused (the status says why)


def _badge(kw: Keyword | None) -> str:
    if kw is None:
        return "<span style='color:#888'>missing</span>"
    # the confidence of a suggestion is in the tooltip: a longer badge would squeeze the value beside it
    return f"<span style='color:{_BADGE_COLOURS[kw.source]}'>{kw.source}</span>"


def _evidence_text(kw: Keyword | None) -> str:
    """The evidence as readable lines (``fraction: 0.42``), nested values on one line each."""
    if kw is None or not kw.evidence:
        return ""

    def fmt(v) -> str:
        if isinstance(v, bool) or v is None:
            return str(v).lower()
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, dict):
            return ", ".join(f"{str(k).replace('_', ' ')} {fmt(x)}" for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return ", ".join(fmt(x) for x in v)
        return str(v)

    return "\n".join(f"{str(k).replace('_', ' ')}: {fmt(v)}" for k, v in kw.evidence.items())


#: Item data role of a value's short text (English), shown in the closed picker.
SHORT_ROLE = QtCore.Qt.UserRole + 1


class ValuePicker(QtWidgets.QComboBox):
    """A keyword's value chooser: the list shows ``English / 中文``, the closed box the English value, elided
    with "…" (never silently cut) when the dock is narrower; the tooltip has the whole value."""

    def shown_text(self) -> str:
        """The text the closed box shows (before eliding)."""
        short = self.currentData(SHORT_ROLE)
        return short if short else self.currentText()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt name
        painter = QtWidgets.QStylePainter(self)
        opt = QtWidgets.QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QtWidgets.QStyle.CC_ComboBox, opt)
        field = self.style().subControlRect(QtWidgets.QStyle.CC_ComboBox, opt,
                                            QtWidgets.QStyle.SC_ComboBoxEditField, self)
        opt.currentText = QtGui.QFontMetrics(self.font()).elidedText(self.shown_text(), QtCore.Qt.ElideRight,
                                                                      field.width())
        painter.drawControl(QtWidgets.QStyle.CE_ComboBoxLabel, opt)


class CaptionDock(QtWidgets.QDockWidget):
    """Keyword pickers and the caption preview for the open image.

    Args:
        suggest: Called with the current keywords, returns merged keywords with fresh suggestions (the
            window computes them from the image and its shapes); ``None`` hides the button.

    Signals:
        changed(): the annotator changed a keyword (the window marks the annotation dirty).
    """

    changed = QtCore.pyqtSignal()

    def __init__(self, suggest: Callable[[dict[str, Keyword]], dict[str, Keyword]] | None = None,
                 parent=None) -> None:
        super().__init__("Caption", parent)
        self.setObjectName("farmannot-caption")
        self.vocab = load_vocabulary()
        self._suggest = suggest
        self.keywords: dict[str, Keyword] = {}
        self._loading = False
        self.pickers: dict[str, QtWidgets.QWidget] = {}
        self.badges: dict[str, QtWidgets.QLabel] = {}

        body = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(body)
        outer.setContentsMargins(4, 4, 4, 4)
        grid = QtWidgets.QGridLayout()
        grid.setColumnStretch(1, 1)
        # the source badge stays whole: its longest word ("confirmed", "suggested") is the column's least width
        badge_font = QtGui.QFontMetrics(self.font())
        grid.setColumnMinimumWidth(2, max(badge_font.horizontalAdvance(w) for w in (*_BADGE_COLOURS, "missing", NOT_SAVED)) + 4)
        for row, key in enumerate(FARMSEG_KEYWORDS):
            spec = self.vocab.keywords[key]
            name = QtWidgets.QLabel(key)
            name.setToolTip(spec.get("help", ""))
            if self.vocab.is_free(key):
                picker: QtWidgets.QWidget = QtWidgets.QLineEdit()
                picker.setPlaceholderText("25.34°S, 54.53°W")
                picker.editingFinished.connect(lambda k=key: self._on_text(k))
            else:
                picker = ValuePicker()
                picker.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
                picker.setMinimumContentsLength(6)
                picker.view().setMinimumWidth(picker.view().sizeHintForColumn(0) + 24)  # the list shows it whole
                picker.addItem(_UNSET, None)
                for vid, words in self.vocab.values(key).items():
                    picker.addItem(f"{words['en']} / {words['zh']}", vid)
                    picker.setItemData(picker.count() - 1, words["en"], SHORT_ROLE)
                picker.currentIndexChanged.connect(lambda _i, k=key: self._on_pick(k))
            picker.setObjectName(f"keyword-{key}")
            badge = QtWidgets.QLabel()
            badge.setTextFormat(QtCore.Qt.RichText)
            badge.setWordWrap(True)
            grid.addWidget(name, row, 0)
            grid.addWidget(picker, row, 1)
            grid.addWidget(badge, row, 2)
            self.pickers[key], self.badges[key] = picker, badge
        outer.addLayout(grid)

        buttons = QtWidgets.QHBoxLayout()
        self.suggest_button = QtWidgets.QPushButton("Suggest")
        self.suggest_button.setToolTip("Suggest keywords from the image bands and the shapes drawn so far")
        self.suggest_button.clicked.connect(self.run_suggest)
        self.suggest_button.setVisible(suggest is not None)
        self.accept_button = QtWidgets.QPushButton("Accept suggestions")
        self.accept_button.setToolTip("Confirm every suggested keyword as it stands")
        self.accept_button.clicked.connect(self.accept_suggestions)
        buttons.addWidget(self.suggest_button)
        buttons.addWidget(self.accept_button)
        outer.addLayout(buttons)

        self.presence = QtWidgets.QLabel()
        self.presence.setWordWrap(True)
        self.presence.setTextFormat(QtCore.Qt.RichText)
        outer.addWidget(self.presence)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(QtCore.Qt.RichText)
        outer.addWidget(self.status)
        self.preview = {}
        for lang in ("en", "zh"):
            box = QtWidgets.QPlainTextEdit()
            box.setReadOnly(True)
            box.setObjectName(f"caption-{lang}")
            box.setMaximumHeight(110)
            outer.addWidget(QtWidgets.QLabel("English" if lang == "en" else "中文"))
            outer.addWidget(box)
            self.preview[lang] = box
        outer.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.refresh()

    def content_width(self) -> int:
        """The dock width at which nothing in it is cut (the pickers elide their values down to it): there is
        no horizontal scroll bar, so a narrower dock cuts badges and buttons at its right edge."""
        scroll = self.widget()
        return (scroll.widget().minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                + 2 * scroll.frameWidth() + 2)

    # -- state in and out ------------------------------------------------------------------------------

    def load(self, keywords: dict[str, Keyword]) -> None:
        """Show ``keywords`` (stored, merged with fresh auto values by the window)."""
        self.keywords = dict(keywords)
        self.refresh()

    def caption_block(self) -> dict:
        """The ``farmannot.caption`` block to save (rendered text only when nothing is missing)."""
        block: dict = {"family": FAMILY,
                       "keywords": {k: v.to_dict() for k, v in sorted(self.keywords.items())}}
        texts = self.texts()
        if texts:
            block["text"] = texts
        return block

    def missing(self) -> list[str]:
        return missing_keywords(self.keywords, FAMILY)

    def unconfirmed(self) -> list[str]:
        return [k for k in FARMSEG_KEYWORDS if k in self.keywords and self.keywords[k].source == "suggested"]

    def texts(self) -> dict[str, str]:
        if self.missing():
            return {}
        try:
            return {lang: render_caption(self.keywords, lang, FAMILY) for lang in ("en", "zh")}
        except FarmannotError:
            return {}

    # -- annotator actions -------------------------------------------------------------------------------

    def _set(self, key: str, value: str | None) -> None:
        old = self.keywords.get(key)
        if not value:
            self.keywords.pop(key, None)
        elif old is None or old.value != value or old.source != "confirmed":
            evidence = old.evidence if old is not None and old.value == value else {"from": "annotator"}
            self.keywords[key] = Keyword(value, "confirmed", evidence, 1.0)
        self.refresh()
        self.changed.emit()

    def _on_pick(self, key: str) -> None:
        if not self._loading:
            self._set(key, self.pickers[key].currentData())

    def _on_text(self, key: str) -> None:
        if self._loading:
            return
        text = self.pickers[key].text().strip()
        old = self.keywords.get(key)
        if text:
            try:
                self.vocab.check(key, text)
            except FarmannotError as exc:
                # the typed text stays to be corrected; the badge and the status say it is not what is saved
                kept = f"the caption keeps {old.value}" if old is not None else f"the caption has no {key} yet"
                why = f"{exc} Not saved: {kept}."
                self.badges[key].setText(f"<span style='color:{_REFUSED}'>{NOT_SAVED}</span>")
                self.badges[key].setToolTip(why)
                self.status.setText(f"<span style='color:{_REFUSED}'>{html.escape(why)}</span>")
                QtWidgets.QToolTip.showText(self.pickers[key].mapToGlobal(QtCore.QPoint(0, 0)), why)
                return
        if old is None or old.value != text:
            self._set(key, text)

    def accept_suggestions(self) -> None:
        """Confirm every suggested keyword as it is."""
        todo = self.unconfirmed()
        for key in todo:
            kw = self.keywords[key]
            self.keywords[key] = Keyword(kw.value, "confirmed", kw.evidence, 1.0)
        self.refresh()
        if todo:
            self.changed.emit()

    def run_suggest(self) -> None:
        if self._suggest is None:
            return
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        try:
            merged = self._suggest(dict(self.keywords))
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        if merged is not None and merged != self.keywords:
            self.keywords = dict(merged)
            self.refresh()
            self.changed.emit()

    # -- display -------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._loading = True
        try:
            for key in FARMSEG_KEYWORDS:
                kw = self.keywords.get(key)
                picker = self.pickers[key]
                if isinstance(picker, QtWidgets.QComboBox):
                    idx = picker.findData(kw.value) if kw is not None else 0
                    picker.setCurrentIndex(max(idx, 0))
                else:
                    picker.setText(kw.value if kw is not None else "")
                    picker.setCursorPosition(0)  # a narrow field shows the latitude first, not the tail
                self.badges[key].setText(_badge(kw))
                tip = self.vocab.keywords[key].get("help", "")
                ev = _evidence_text(kw)
                shown = picker.currentText() if isinstance(picker, QtWidgets.QComboBox) and kw is not None else ""
                picker.setToolTip((f"{shown}\n\n" if shown else "") + tip + (f"\n\nevidence:\n{ev}" if ev else ""))
                sure = f"confidence: {kw.confidence:.0%}\n" if kw is not None and kw.source == "suggested" else ""
                self.badges[key].setToolTip(sure + ev)
                font = picker.font()
                font.setItalic(kw is not None and kw.source != "confirmed")
                picker.setFont(font)
        finally:
            self._loading = False
        self._refresh_presence()
        missing, unconfirmed = self.missing(), self.unconfirmed()
        parts = []
        if missing:
            how = "pick them above" + ("; Suggest fills some from the image and the fields drawn"
                                       if self._suggest is not None else "")
            parts.append(f"<b>Missing:</b> {', '.join(missing)} <span style='color:#666'>({how})</span>")
        if unconfirmed:
            parts.append(f"<b>To confirm:</b> {', '.join(unconfirmed)} <span style='color:#666'>(check each; "
                         "Accept suggestions takes them all, or pick another value)</span>")
        self.status.setText("<br>".join(parts) if parts else "<span style='color:#1a7f37'>Caption complete.</span>")
        self.accept_button.setEnabled(bool(unconfirmed))
        texts = self.texts()
        for lang, box in self.preview.items():
            box.setPlainText(texts.get(lang, ""))
            box.setPlaceholderText("The caption appears when every keyword is set.")

    def _refresh_presence(self) -> None:
        lines = []
        for key in SURROUNDINGS:
            kw = self.keywords.get(key)
            if kw is None:
                lines.append(f"{key}: <i>not checked yet</i>")
                continue
            what = "absent" if kw.value == "absent" else f"present ({self.vocab.word(key, kw.value, 'en')})"
            ev = kw.evidence
            detail = ", ".join(f"{k} {ev[k]}" for k in ("fraction", "patches", "method") if k in ev)
            check = "verified" if kw.source == "confirmed" else "<b>to verify</b>"
            lines.append(f"{key}: {what}{f' [{detail}]' if detail else ''} - {check}")
        self.presence.setText("<b>Presence checks</b><br>" + "<br>".join(lines))


