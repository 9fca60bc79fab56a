"""The report downloads: every month with a stored monthly value (the monthly report as HTML,
PDF or XLSX) and every ISO week with a stored value of the share indicator (the Korean brief
as HTML), built on request by reports.monthly / reports.weekly exactly as `meiyu report` and
`meiyu brief` write them, so a download and the CLI's file hold the same numbers."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import io
import re
from itertools import groupby
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from kernel.config import Config
from kernel.errors import MeiyuError, UserError
from nlp.identity import definition_version
from reports.monthly import build_monthly
from reports.monthly import render_html as monthly_html
from reports.weekly import build_weekly, share_indicator
from reports.weekly import render_html as weekly_html
from storage.queries import stored_periods
from web.kit import PageKit
from web.weekly import stored_weeks

MONTH = re.compile(r"^\d{4}-\d{2}$")
WEEK = re.compile(r"^\d{4}-W\d{2}$")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMAT_NAMES = {"html": "网页 HTML", "pdf": "PDF", "xlsx": "Excel XLSX"}
# the file name a path may ask for: checked by its own regex below, this only bounds the size
PeriodName = Annotated[str, PathParam(max_length=20)]


def stored_months(cfg: Config, session: Any) -> list[str]:
    """The months with a stored monthly value of any configured indicator, oldest first."""
    months: set[str] = set()
    for key, ind in cfg.indicators.items():
        months.update(stored_periods(session, key, definition_version(ind), "month"))
    return sorted(months)


def attachment(body: bytes | str, fmt: str, filename: str) -> Response:
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def register(app: FastAPI, kit: PageKit, demo_note: str | None = None) -> None:
    """Adds /reports and its downloads to `app`, for viewers; `demo_note` (meiyu demo's) is
    printed on every report built here, as the CLI prints it on the demo's."""
    sessions, config = kit.sessions, kit.config
    render, page, page_error = kit.render, kit.page, kit.page_error

    def needs_config() -> Config:
        if config is None:
            raise page_error(404, "报告下载未开启：服务器没有读取配置。")
        return config

    @app.get("/reports", response_class=HTMLResponse, include_in_schema=False)
    def reports_page(
        request: Request, visitor: Annotated[Any, Depends(page("viewer"))]
    ) -> Response:
        if config is None:
            return render(request, "reports.html.j2", visitor=visitor, off=True)
        try:
            key, ind = share_indicator(config, None)
        except UserError:  # no positive-share indicator configured: monthly reports only
            key, ind = None, None
        with sessions() as s:
            months = stored_months(config, s)[::-1]
            weeks = stored_weeks(config, s, key)[::-1] if key else []
        return render(
            request,
            "reports.html.j2",
            visitor=visitor,
            off=False,
            months=months,
            years=[(y, list(ws)) for y, ws in groupby(weeks, key=lambda w: w[:4])],
            weeks=weeks,
            key=key,
            ind=ind,
            formats=FORMAT_NAMES,
        )

    @app.get("/reports/monthly/{month}.{fmt}", include_in_schema=False)
    def monthly_download(
        visitor: Annotated[Any, Depends(page("viewer"))], month: PeriodName, fmt: PeriodName
    ) -> Response:
        """The month's report as `meiyu report --format` writes it (the PDF from the same HTML)."""
        cfg = needs_config()
        if fmt not in MEDIA_TYPES:
            raise page_error(404, "报告格式应为 html、pdf 或 xlsx。")
        if not MONTH.match(month) or not 1 <= int(month[5:]) <= 12:
            raise page_error(422, "月份应为 YYYY-MM，如 2023-12。")
        with sessions() as s:
            if month not in stored_months(cfg, s):
                raise page_error(404, f"{month} 没有已存储的月度数值（先运行 meiyu compute）。")
            report = build_monthly(cfg, s, int(month[:4]), int(month[5:]), demo_note=demo_note)
        html = monthly_html(report)
        name = f"meiyu-{month}.{fmt}"
        if fmt == "html":
            return attachment(html, fmt, name)
        if fmt == "pdf":
            from reports.pdf import render_pdf  # weasyprint: loaded when a PDF is asked for

            return attachment(render_pdf(html), fmt, name)
        from reports.xlsx import build_workbook

        out = io.BytesIO()
        build_workbook(report).save(out)
        return attachment(out.getvalue(), fmt, name)

    @app.get("/reports/weekly/{week}.html", include_in_schema=False)
    def weekly_download(
        visitor: Annotated[Any, Depends(page("viewer"))],
        week: PeriodName,
        indicator: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        """The week's Korean brief as `meiyu brief` writes it."""
        cfg = needs_config()
        if not WEEK.match(week):
            raise page_error(422, "周应为 ISO 周，如 2023-W49。")
        try:
            key, _ = share_indicator(cfg, indicator or None)
        except UserError:
            raise page_error(422, "指标应为配置中的正面占比指标（如 a67）。") from None
        with sessions() as s:
            if week not in stored_weeks(cfg, s, key):
                raise page_error(404, f"{week} 没有已存储的 {key} 周数值。")
            try:
                brief = build_weekly(cfg, s, week, key, demo_note=demo_note)
            except MeiyuError as exc:
                raise page_error(503, f"无法生成周报：{exc}") from None
        return attachment(weekly_html(brief), "html", f"meiyu-brief-{key}-{week}.html")
