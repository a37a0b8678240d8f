"""A ClassificationReport as text, Markdown and a self-contained HTML page.

One row builder, :func:`summary_rows`, feeds every format, so the tables
never disagree.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, NamedTuple

from topicbert._plotting import PLOT_HINT, png_img_tag

if TYPE_CHECKING:
    from topicbert._evaluation import ClassificationReport


class Row(NamedTuple):
    """One line of a report table; ``kind`` is ``"label"``, ``"accuracy"`` or ``"average"``."""

    name: str
    precision: float | None
    recall: float | None
    f1: float
    support: int
    kind: str


def summary_rows(report: ClassificationReport) -> list[Row]:
    """Per-label rows, then accuracy, then the macro and weighted averages."""
    rows = [
        Row(str(label), p, r, f, s, "label")
        for label, p, r, f, s in zip(
            report.labels, report.precision, report.recall, report.f1, report.support, strict=True
        )
    ]
    total = sum(report.support)
    averages = [("macro avg", report.macro_avg), ("weighted avg", report.weighted_avg)]
    if report.multilabel:  # as scikit-learn's report: no accuracy row, four averages
        averages = [("micro avg", report.micro_avg), *averages, ("samples avg", report.samples_avg)]
    else:
        rows.append(Row("accuracy", None, None, report.accuracy, total, "accuracy"))
    for name, average in averages:
        rows.append(
            Row(
                name,
                average["precision"],
                average["recall"],
                average["f1-score"],
                total,
                "average",
            )
        )
    return rows


def extra_scores(report: ClassificationReport) -> list[str]:
    """The scores beyond the table: log-loss, top-k accuracy, calibration error."""
    lines = []
    if report.multilabel:
        lines.append(f"subset accuracy: {report.accuracy:.4f}")
        lines.append(f"hamming loss: {report.hamming_loss or 0.0:.4f}")
    if report.log_loss is not None:
        lines.append(f"log-loss: {report.log_loss:.4f}")
    lines += [f"top-{k} accuracy: {value:.4f}" for k, value in report.top_k_accuracy.items()]
    if report.expected_calibration_error is not None:
        lines.append(f"expected calibration error: {report.expected_calibration_error:.4f}")
    return lines


def len_texts(report: ClassificationReport) -> int:
    """How many texts a report scores (multi-label supports count labels, not texts)."""
    if report.multilabel:
        return int(report.confusion_matrix[0].sum()) if len(report.confusion_matrix) else 0
    return sum(report.support)


def to_text(report: ClassificationReport, digits: int = 2) -> str:
    """The table laid out as scikit-learn's ``classification_report``."""
    headers = ["precision", "recall", "f1-score", "support"]
    rows = summary_rows(report)
    width = max(max(len(row.name) for row in rows), digits)
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    accuracy_fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
    for previous, row in zip([None, *rows], rows, strict=False):
        if previous is not None and previous.kind == "label" and row.kind == "average":
            text += "\n"
        if row.kind == "accuracy":
            text += "\n" + accuracy_fmt.format(
                row.name, "", "", row.f1, row.support, width=width, digits=digits
            )
        else:
            text += row_fmt.format(
                row.name, row.precision, row.recall, row.f1, row.support, width=width, digits=digits
            )
    return text


def to_markdown(report: ClassificationReport, digits: int = 4) -> str:
    """The table as Markdown, summary rows in bold."""
    lines = ["| label | precision | recall | f1-score | support |", "|---|---:|---:|---:|---:|"]
    for row in summary_rows(report):
        name = row.name if row.kind == "label" else f"**{row.name}**"
        cells = [
            "" if value is None else f"{value:.{digits}f}"
            for value in (row.precision, row.recall, row.f1)
        ]
        parts = [name, *cells, str(row.support)]
        lines.append("|" + "|".join(f" {part} " if part else " " for part in parts) + "|")
    return "\n".join(lines) + "\n"


_STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .7rem; text-align: right; }
th:first-child { text-align: left; }
tr.summary { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 1rem 0; }"""


def to_html(report: ClassificationReport, title: str = "Classification report") -> str:
    """One self-contained HTML page: tables, extra scores and embedded figures."""
    esc = html.escape
    rows = "".join(
        ("<tr>" if row.kind == "label" else '<tr class="summary">')
        + f"<th>{esc(row.name)}</th>"
        + "".join(
            "<td></td>" if value is None else f"<td>{value:.4f}</td>"
            for value in (row.precision, row.recall, row.f1)
        )
        + f"<td>{row.support}</td></tr>"
        for row in summary_rows(report)
    )
    if report.multilabel:
        header = "<th>true positives</th><th>false positives</th><th>false negatives</th>"
        header += "<th>true negatives</th>"
        matrix_rows = "".join(
            f"<tr><th>{esc(str(label))}</th><td>{tp}</td><td>{fp}</td><td>{fn}</td>"
            f"<td>{tn}</td></tr>"
            for label, ((tn, fp), (fn, tp)) in zip(
                report.labels, report.confusion_matrix.tolist(), strict=True
            )
        )
        matrix_note = "One row per label: how its yes/no decisions fared."
        headline = (
            f"Subset accuracy <strong>{report.accuracy:.4f}</strong> on "
            f"{len_texts(report)} texts, micro-F1 <strong>{report.micro_avg['f1-score']:.4f}"
            f"</strong>, macro-F1 <strong>{report.macro_avg['f1-score']:.4f}</strong>."
        )
    else:
        header = "".join(f"<th>{esc(str(label))}</th>" for label in report.labels)
        matrix_rows = "".join(
            f"<tr><th>{esc(str(label))}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
            for label, row in zip(report.labels, report.confusion_matrix.tolist(), strict=True)
        )
        matrix_note = "Rows: true label; columns: predicted label."
        headline = (
            f"Accuracy <strong>{report.accuracy:.4f}</strong> on {sum(report.support)} texts, "
            f"macro-F1 <strong>{report.macro_avg['f1-score']:.4f}</strong>."
        )
    extra = "".join(f"<li>{esc(line)}</li>" for line in extra_scores(report))
    figures = []
    try:
        figures.append(png_img_tag(report.plot_confusion_matrix().figure, "confusion matrix"))
        if report.calibration:
            figures.append(png_img_tag(report.plot_calibration().figure, "reliability diagram"))
        if report.history:
            figures.append(png_img_tag(report.plot_training_curves(), "training curves"))
    except ImportError:
        figures.append(f"<p>{esc(PLOT_HINT)}</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
{_STYLE}
</style></head>
<body>
<h1>{esc(title)}</h1>
<p>{headline}</p>
<h2>Per {"label" if report.multilabel else "class"}</h2>
<table id="per-class"><thead><tr><th>label</th><th>precision</th><th>recall</th>
<th>f1-score</th><th>support</th></tr></thead><tbody>{rows}</tbody></table>
{"<ul>" + extra + "</ul>" if extra else ""}
<h2>Confusion matrix</h2>
<p>{matrix_note}</p>
<table id="confusion-matrix"><thead><tr><th></th>{header}</tr></thead>
<tbody>{matrix_rows}</tbody></table>
<h2>Figures</h2>
{"".join(figures)}
</body></html>
"""
