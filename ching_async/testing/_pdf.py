"""A small, valid one-page PDF: the fake's tax documents.

PDF 1.4 with the standard Helvetica font (no embedded font), one text line
per entry of `lines`, and an exact cross-reference table, so that any PDF
reader opens it. ASCII text only: Helvetica's standard encoding has no Hebrew.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["minimal_pdf"]

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"  # the binary comment marks the file as binary


def _text(line: str) -> bytes:
    """A PDF literal string: backslashes and parentheses escaped, ASCII only."""
    ascii_line = line.encode("ascii", "replace").decode("ascii")
    escaped = ascii_line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})".encode("ascii")


def minimal_pdf(lines: Sequence[str], *, title: str = "") -> bytes:
    """A one-page A4 PDF showing `lines`, top to bottom."""
    content = b"BT /F1 12 Tf 72 770 Td 16 TL\n"
    content += b"".join(_text(line) + b" Tj T*\n" for line in lines)
    content += b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Title " + _text(title) + b" /Producer (ching_async FakeChing) >>",
    ]
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    # Each entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, EOL.
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f\r\n"
    out += b"".join(b"%010d 00000 n\r\n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
