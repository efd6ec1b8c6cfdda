"""One router per resource; :func:`portrait.api.app.create_app` includes them all."""

from portrait.api.routes import (
    admin,
    audiences,
    campaigns,
    catalog,
    discovery,
    insight,
    segments,
    service,
    users,
)

ROUTERS = [
    service.router,
    catalog.router,
    audiences.router,
    segments.router,
    insight.router,
    discovery.router,
    campaigns.router,
    users.router,
    admin.router,
]

__all__ = ["ROUTERS"]
