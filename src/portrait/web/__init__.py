"""The web console: server-rendered pages (Jinja2) with partial updates (htmx) over the same
facade and core as the HTTP API, for the people who select, understand, push and measure.

:func:`mount` adds it to the API's app (:mod:`portrait.server`). Page handlers parse the
request, call one facade service as the signed-in user's caller and render a template; who
may see what, and what is audited, is decided in the core, so the console cannot show what
the API would not.
"""

from portrait.web.app import mount

__all__ = ["mount"]
