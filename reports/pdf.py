"""The monthly report as PDF: WeasyPrint renders the very HTML the browser shows, with the
packaged Noto Sans CJK (OFL, the same font as the charts) so 汉字 and 한글 print the same on
every machine, with or without system CJK fonts. Nothing is fetched from the network.

`python -m reports.pdf REPORT.pdf OUT_DIR` renders the pages to PNG (pypdfium2), to look at.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import zlib
from pathlib import Path
from typing import Any

FONT_FAMILY = "Meiyu Noto Sans CJK"


@functools.cache
def font_paths() -> dict[str, Path]:
    """Noto Sans CJK regular and bold, the OFL wheels cvttf-notosanscjk-regular and -bold (the
    charts use the regular one): 汉字 and 한글 in one face, no system font needed."""
    import cvttf_NotoSansCJK_Bold as bold
    import cvttf_NotoSansCJK_Regular as regular

    return {
        "normal": Path(regular.get_TTF_path()).resolve(),
        "bold": Path(bold.get_TTF_path()).resolve(),
    }


def print_css() -> str:
    """PDF-only: the packaged font for every element and the page footer."""
    faces = "".join(
        f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: {weight}; '
        f'src: url("{path.as_uri()}"); }}\n'
        for weight, path in font_paths().items()
    )
    return (
        faces + f'* {{ font-family: "{FONT_FAMILY}" !important; }}\n'
        f'@page {{ @bottom-center {{ font-family: "{FONT_FAMILY}"; }} }}\n'
        "body { max-width: none; padding: 0; font-size: 10pt; }\n"
        "a { color: inherit; }\n"
    )


def _fetcher() -> Any:
    """Inline images (data:) and the font file only: a link in the page is never fetched, so
    rendering works offline and a crawled page cannot make the renderer call anything."""
    from weasyprint.urls import URLFetcher

    class ReportFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            fonts = {p.as_uri() for p in font_paths().values()}
            if url.startswith("data:") or url in fonts:
                return super().fetch(url, headers)
            raise ValueError(f"not fetched while rendering the PDF: {url[:80]}")

    return ReportFetcher(allowed_protocols=("data", "file"))


def render_pdf(html: str) -> bytes:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    fetcher = _fetcher()
    css = CSS(string=print_css(), font_config=fonts, url_fetcher=fetcher)
    # fontTools reports each subset table at INFO; the report's own log stays readable
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    doc = HTML(string=html, url_fetcher=fetcher).render(stylesheets=[css], font_config=fonts)
    pdf: bytes = doc.write_pdf()
    return pdf


def write_pdf(html: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(render_pdf(html))
    tmp.replace(path)  # a reader never sees half a PDF
    return path


def pdf_fonts(pdf: bytes) -> set[str]:
    """/FontName of every embedded font (WeasyPrint keeps them in compressed streams): to
    check that no glyph came from a system font another machine may lack."""
    names = set()
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            data = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        names |= {n.decode() for n in re.findall(rb"/FontName\s*/([\w+\-]+)", data)}
    return names


def pages_png(pdf: Path, out_dir: Path, dpi: int = 80) -> list[Path]:
    """Each page as PNG (for looking at the PDF as a reader would)."""
    import pypdfium2 as pdfium

    out_dir.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument(pdf)
    paths = []
    try:
        for i in range(len(doc)):
            image = doc[i].render(scale=dpi / 72).to_pil()
            path = out_dir / f"{pdf.stem}-p{i + 1:02d}.png"
            image.save(path)
            paths.append(path)
    finally:
        doc.close()
    return paths


def pdf_text(pdf: Path) -> list[str]:
    """The text of each page, as a reader copying it would get it."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        pages = [doc[i].get_textpage().get_text_bounded() for i in range(len(doc))]
        return [p.replace("\r\n", "\n").replace("\r", "\n") for p in pages]
    finally:
        doc.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m reports.pdf REPORT.pdf OUT_DIR")
    for p in pages_png(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p)
