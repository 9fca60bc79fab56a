"""What every page module needs from the app, built once in `create_app`: the database, the
configured indicators, the time zone, the renderer and the role checks. A page module's
`register(app, kit)` adds its routes with these, so they all answer logins, roles and errors
the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, IndicatorConfig
from kernel.roles import Role
from web.cache import SeriesCache

# `Depends(kit.page("analyst"))` (a page: login redirect, 403 page) or `kit.api(...)` (401/403)
RoleCheck = Callable[[Role], Callable[[Request], Any]]


@dataclass(frozen=True)
class PageKit:
    """sessions: the database; indicators: the configured ones; timezone: the pages' clock;
    render(request, template, status=200, visitor=None, **context) → the HTML page;
    page / api: role checks for pages and for the JSON API;
    page_error(status, message): raise it for a Chinese error page with that status;
    config: the whole config, for the pages that render reports (None: those pages are off);
    cache: what the pages compute from the stored series, kept until the series change."""

    sessions: sessionmaker[Session]
    indicators: Mapping[str, IndicatorConfig]
    timezone: str
    render: Callable[..., HTMLResponse]
    page: RoleCheck
    api: RoleCheck
    page_error: Callable[[int, str], Exception]
    config: Config | None = None
    cache: SeriesCache = field(default_factory=SeriesCache)
