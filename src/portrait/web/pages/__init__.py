"""The console's page groups, one router each (a module per group, named for what it shows)."""

from portrait.web.pages import (
    admin,
    analysis,
    builder,
    campaigns,
    cubes,
    discover,
    experiments,
    home,
    insight,
    personas,
    segments,
    signin,
    tags,
    users,
)

ROUTERS = [
    signin.router,
    home.router,
    tags.router,
    builder.router,
    segments.router,
    insight.router,
    analysis.router,
    discover.router,
    personas.router,
    cubes.router,
    users.router,
    experiments.router,  # before campaigns': /campaigns/import and /campaigns/plan
    campaigns.router,
    admin.router,
]

__all__ = ["ROUTERS"]
