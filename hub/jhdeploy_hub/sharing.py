"""SHARING: the page where users share their servers (/hub/shares), linked from the home page.

JupyterHub 5 added shares and share codes with a REST API and no page to use it. This page is one of
our templates (conf/templates/shares.html); its script calls that API from the user's browser, as the
hub's own home page does, so every action is the user's own and JupyterHub checks its scopes: the page
adds no permission. The handler only says which servers the user has and what the hub allows.

A hub page rather than a JupyterLab extension: a user shares a server that is not running, sees the
servers shared with them before any is open, and the page works whatever the image.
"""

from __future__ import annotations

from jupyterhub.handlers import BaseHandler
from tornado import web

# The expiry a new share link gets unless the user picks another (the page offers these, in seconds).
LINK_EXPIRY = {"1 hour": 3600, "1 day": 86400, "1 week": 7 * 86400}
DEFAULT_LINK_EXPIRY = "1 day"


class SharesHandler(BaseHandler):
    """GET /hub/shares: the share page of the user who is logged in."""

    def initialize(self, by_name: bool):
        self.by_name = by_name

    @web.authenticated
    async def get(self):
        user = self.current_user
        servers = [{"name": spawner.name, "ready": spawner.ready, "url": user.server_url(spawner.name)}
                   for spawner in user.all_spawners(include_default=True)]
        html = await self.render_template(
            "shares.html", servers=servers, by_name=self.by_name, is_admin=user.admin,
            link_expiry=LINK_EXPIRY, default_link_expiry=DEFAULT_LINK_EXPIRY)
        self.finish(html)


def end_all(db_url: str, log) -> None:
    """SHARING off: every share and share link ends when the hub starts. JupyterHub would keep them working
    (the role only stops new ones), with no page left to see or revoke them; `invoke restart` says so first.
    Before JupyterHub opens the database; a database without the tables (older, or new) has nothing to end."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.begin() as connection:
            tables = sqlalchemy.inspect(connection)
            ended = {table: connection.execute(sqlalchemy.text(f"DELETE FROM {table}")).rowcount
                     for table in ("share_codes", "shares") if tables.has_table(table)}
    except sqlalchemy.exc.SQLAlchemyError as error:
        log(f"SHARING is off, but the shares could not be checked: {error}")
        return
    finally:
        engine.dispose()
    if any(ended.values()):
        log(f"SHARING is off: ended {ended.get('shares', 0)} share(s) and {ended.get('share_codes', 0)} "
            "share link(s).")
