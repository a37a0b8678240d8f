"""The labelling page's answers: a CSV file that is on disk before the page moves on.

The file is always a valid CSV that ``topicbert train`` reads: a ``text``
column and a ``label`` column (label sets: ``labels``, joined by ``|``). Each
answer is appended with one ``write`` call on a file opened for appending and
flushed to disk (``fsync``) before it is acknowledged; taking an answer back
rewrites the file atomically. A record cut short by a crash in the middle of
a write (the only way to get one) is dropped when the file is opened again.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from topicbert._files import write_file_atomically

LABEL_SET_SEPARATOR = "|"
"""How a label set is written in the ``labels`` column."""


class AnswerLog:
    """The answers given so far, mirrored in a CSV file after every change.

    Parameters
    ----------
    path : Path
        The CSV file; created with its header when absent, read back (and
        continued) when present.
    multilabel : bool
        Answers are label sets (``labels`` column) rather than one label.

    Raises
    ------
    ValueError
        When ``path`` exists but is not such a file (other columns, or a
        single-label file opened for label sets or the other way round).
    """

    def __init__(self, path: Path, *, multilabel: bool) -> None:
        self.path = path
        self.multilabel = multilabel
        self.header = ["text", "labels" if multilabel else "label"]
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, ...]] = {}
        self.repaired = False
        if path.exists() and path.stat().st_size > 0:
            self._read()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomically(path, self._encode([self.header]))

    # ------------------------------------------------------------------ reading
    def _read(self) -> None:
        content = self.path.read_bytes().decode("utf-8")
        rows = list(csv.reader(io.StringIO(content, newline="")))
        if not rows or rows[0] != self.header:
            found = rows[0] if rows else []
            raise ValueError(
                f"{self.path} exists but does not hold labelling answers: its columns are "
                f"{found!r}, expected {self.header!r}. Choose another --output, or move it away."
            )
        complete = content.endswith("\n")
        records = rows[1:]
        if records and (not complete or len(records[-1]) != 2):
            records = records[:-1]  # cut short by a crash while it was written
            self.repaired = True
        for row in records:
            if len(row) != 2:
                raise ValueError(f"{self.path} has a row that is not text,label: {row!r}.")
            self._answers[row[0]] = self._parse(row[1])
        if self.repaired or not complete:
            write_file_atomically(self.path, self._encode([self.header, *self._rows()]))

    def _parse(self, cell: str) -> tuple[str, ...]:
        if not self.multilabel:
            return (cell,)
        return tuple(label for label in cell.split(LABEL_SET_SEPARATOR) if label)

    # ------------------------------------------------------------------ writing
    def _cell(self, labels: Sequence[str]) -> str:
        return LABEL_SET_SEPARATOR.join(labels) if self.multilabel else labels[0]

    def _rows(self) -> list[list[str]]:
        return [[text, self._cell(labels)] for text, labels in self._answers.items()]

    @staticmethod
    def _encode(rows: list[list[str]]) -> bytes:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")

    def add(self, text: str, labels: Sequence[str]) -> bool:
        """Record an answer on disk; False (and nothing written) if ``text`` has one already."""
        record = self._encode([[text, self._cell(labels)]])
        with self._lock:
            if text in self._answers:
                return False
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                view = memoryview(record)
                while view:  # one call in practice; a short write goes on where it stopped
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            self._answers[text] = tuple(labels)
            return True

    def remove(self, text: str) -> tuple[str, ...] | None:
        """Take an answer back (the file is rewritten atomically); its labels, or None."""
        with self._lock:
            labels = self._answers.pop(text, None)
            if labels is not None:
                write_file_atomically(self.path, self._encode([self.header, *self._rows()]))
            return labels

    # ----------------------------------------------------------------- querying
    def __contains__(self, text: object) -> bool:
        return text in self._answers

    def __len__(self) -> int:
        return len(self._answers)

    def snapshot(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every answer so far, in the order given."""
        with self._lock:
            return list(self._answers.items())
