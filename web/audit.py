"""The audit page: a person labels the sentiment of a month's stratified sample in the browser,
one item at a time, instead of filling in the file of `meiyu audit sample`; below it the
model's confusion matrix on the audited items, per model version.

web/ may not import pipelines, so the sampling, the storing (the checks and writes of `meiyu
audit import`) and the report come in as `AuditHooks`, built by `meiyu serve`. The labels sit
beside the model's results, never over them."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from kernel.audit import LABEL_NAMES_ZH, AuditItem, AuditSample
from kernel.errors import UserError
from storage.audit import labels
from storage.items import item_detail
from web.items import safe_href
from web.kit import PageKit
from web.security import same

LABELS = ("positive", "neutral", "negative")
SAMPLE_SIZE = 200  # the default of `meiyu audit sample --n`
MAX_SEED = 2**31 - 1
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class ModelAuditView(Protocol):
    """What the page shows of one model's audit (pipelines.audit.ModelAudit has it)."""

    @property
    def model_id(self) -> str: ...
    @property
    def current(self) -> bool: ...
    @property
    def n(self) -> int: ...
    @property
    def counts(self) -> tuple[tuple[int, ...], ...]: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def macro_f1(self) -> float: ...
    @property
    def ties(self) -> int: ...


@dataclass(frozen=True)
class AuditHooks:
    """The pipelines functions the page needs, injected so web/ does not import pipelines.

    sample: (session, indicator, year, month, n, seed) → the stratified sample with the items
        already labelled kept in it (so it stays the same while a person works through it);
    store: (sessions, item, human label, annotator) → stores one label as `meiyu audit import`
        does (checked against the stored result, one transaction), UserError when refused;
    report: (session, indicator) → per model version, the current one first;
    min_items: from this many audited items on, the audit's matrix corrects the share;
    shares: (session, indicator, the month's model label counts) → the positive share
        corrected with the model's held-out matrix and with the audit's (None: no matrix)."""

    sample: Callable[[Session, str, int, int, int, int], AuditSample]
    store: Callable[[sessionmaker[Session], AuditItem, str, str], None]
    report: Callable[[Session, str], Sequence[ModelAuditView]]
    min_items: int
    shares: Callable[[Session, str, dict[str, int]], tuple[float | None, float | None]] | None = (
        None
    )


def register(app: FastAPI, kit: PageKit, hooks: AuditHooks | None) -> None:
    """Adds GET /audit (the sample's next item and the report) and POST /audit (one label) to
    `app`, both for analysts."""
    sessions, indicators = kit.sessions, kit.indicators
    render, page, page_error = kit.render, kit.page, kit.page_error

    def month_of(indicator: str, month: str) -> tuple[int, int]:
        if indicator not in indicators:
            raise page_error(422, f"没有这个指标：{indicator}")
        m = _MONTH.fullmatch(month)
        if m is None:
            raise page_error(422, "月份格式应为 YYYY-MM。")
        return int(m[1]), int(m[2])

    def draw(h: AuditHooks, indicator: str, year: int, mon: int, seed: int) -> AuditSample:
        try:
            with sessions() as s:
                return h.sample(s, indicator, year, mon, SAMPLE_SIZE, seed)
        except UserError as exc:
            raise page_error(422, f"无法抽样：{exc}") from exc

    def labelled_by(indicator: str, annotator: str) -> dict[int, str]:
        with sessions() as s:
            return {
                r.document_id: r.human_label
                for r in labels(s, indicator)
                if r.annotator == annotator
            }

    Indicator = Annotated[str, Query(min_length=1, max_length=40)]
    Month = Annotated[str, Query(min_length=1, max_length=7)]
    Seed = Annotated[int, Query(ge=0, le=MAX_SEED)]
    Position = Annotated[int, Query(ge=0, le=SAMPLE_SIZE)]

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("analyst"))],
        indicator: Indicator = "a67",
        month: Month | None = None,
        seed: Seed = 0,
        pos: Position = 0,
    ) -> Response:
        if hooks is None:
            return render(request, "audit.html.j2", visitor=visitor, enabled=False)
        if month is None:  # the form to choose a month
            return render(
                request,
                "audit.html.j2",
                visitor=visitor,
                enabled=True,
                indicators=indicators,
                indicator=indicator,
                sample=None,
            )
        year, mon = month_of(indicator, month)
        sample = draw(hooks, indicator, year, mon, seed)
        done = labelled_by(indicator, visitor.user.name)
        open_ = [i for i, x in enumerate(sample.items) if x.document_id not in done]
        # the first open item from `pos` on (a skipped one comes back at the end)
        index = next((i for i in open_ if i >= pos), open_[0] if open_ else None)
        item = sample.items[index] if index is not None else None
        with sessions() as s:
            detail = item_detail(s, item.document_id) if item is not None else None
            report = list(hooks.report(s, indicator))
            held_out, audited = (
                hooks.shares(s, indicator, sample.population) if hooks.shares else (None, None)
            )
        scored = sum(sample.population.values())
        raw = sample.population.get("positive", 0) / scored if scored else None
        return render(
            request,
            "audit.html.j2",
            visitor=visitor,
            enabled=True,
            indicators=indicators,
            indicator=indicator,
            month=month,
            seed=seed,
            sample=sample,
            labelled=len(sample.items) - len(open_),
            index=index,
            item=item,
            url=detail.url if detail else "",
            href=safe_href(detail.url) if detail else None,
            report=report,
            label_names=LABEL_NAMES_ZH,
            labels=LABELS,
            min_items=hooks.min_items,
            raw_share=raw,
            held_out_share=held_out,
            audit_share=audited,
        )

    @app.post("/audit", include_in_schema=False)
    def audit_label(
        request: Request,
        visitor: Annotated[Any, Depends(page("analyst"))],
        csrf: Annotated[str, Form(max_length=200)] = "",
        indicator: Annotated[str, Form(max_length=40)] = "",
        month: Annotated[str, Form(max_length=7)] = "",
        seed: Annotated[int, Form(ge=0, le=MAX_SEED)] = 0,
        document_id: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
        label: Annotated[str, Form(max_length=16)] = "",
    ) -> Response:
        ws = visitor.web_session  # a token bearer has no session: no form to post
        if ws is None or not same(csrf, ws.csrf_token):
            raise page_error(403, "表单已失效，请刷新页面后再试。")
        if hooks is None:
            raise page_error(404, "审核功能未启用。")
        year, mon = month_of(indicator, month)
        if label not in (*LABELS, "skip"):
            raise page_error(422, "标签应为 正面、中性、负面 或 跳过。")
        sample = draw(hooks, indicator, year, mon, seed)
        index = next((i for i, x in enumerate(sample.items) if x.document_id == document_id), None)
        if index is None:
            raise page_error(422, "这个条目不在本月的审核样本中。")
        if label != "skip":
            try:
                hooks.store(sessions, sample.items[index], label, visitor.user.name)
            except UserError as exc:
                raise page_error(422, f"标注未保存：{exc}") from exc
        after = index + 1 if label == "skip" else index
        query = urlencode({"indicator": indicator, "month": month, "seed": seed, "pos": after})
        return RedirectResponse(f"/audit?{query}", status_code=303)
