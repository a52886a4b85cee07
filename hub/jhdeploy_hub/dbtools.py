"""Database chores that run inside a one-off hub container (python3 -m jhdeploy_hub.dbtools ...).

They use the hub's own configuration, JupyterHub's ORM and SQLAlchemy, so they
see the database exactly as the hub does.
"""

from __future__ import annotations

import sys

from traitlets.config import Config

from jhdeploy_hub import config


def configured_engine():
    """The database the tasks' settings name, with the password from its mounted secret."""
    from sqlalchemy import create_engine

    c = Config()
    config.update_database(config.load_settings(), c)
    return create_engine(c.JupyterHub.db_url)


def revision() -> str:
    """The alembic revision of the hub database, or 'empty' when it has none yet."""
    from sqlalchemy import inspect, text

    engine = configured_engine()
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return "empty"
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() or "empty"


def migrate_to_postgres(source_url: str) -> int:
    """Copy every table of the SQLite hub database at `source_url` (the tasks name it) into the (empty)
    PostgreSQL one that the settings name."""
    from jupyterhub import orm
    from sqlalchemy import MetaData, Table, create_engine, func, inspect, select, text

    target = configured_engine()  # `invoke migrate-db` wrote settings that name PostgreSQL
    source = create_engine(source_url)
    with target.connect() as connection:
        inspector = inspect(connection)
        if inspector.has_table("users") and connection.execute(text("SELECT count(*) FROM users")).scalar():
            print("The PostgreSQL database already holds hub users; nothing was copied.", file=sys.stderr)
            return 3

    source_tables = MetaData()
    source_tables.reflect(source)
    orm.Base.metadata.create_all(target)  # JupyterHub's own tables, with their PostgreSQL types
    # Tables JupyterHub does not define (alembic_version, an authenticator's own) come from SQLite.
    extra = MetaData()
    for table in source_tables.sorted_tables:
        if table.name not in orm.Base.metadata.tables:
            copy = table.to_metadata(extra)
            for column in copy.columns:
                column.type = column.type.as_generic()
    extra.create_all(target)

    copied = 0
    with source.connect() as read, target.begin() as write:
        for table in source_tables.sorted_tables:
            rows = [dict(row) for row in read.execute(select(table)).mappings()]
            destination = Table(table.name, MetaData(), autoload_with=write)
            write.execute(destination.delete())
            if rows:
                write.execute(destination.insert(), rows)
            copied += len(rows)
            if "id" in destination.c and destination.c.id.autoincrement and rows:
                highest = write.execute(select(func.max(destination.c.id))).scalar()
                write.execute(text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value)"),
                              {"table": table.name, "value": highest})
            print(f"{table.name}: {len(rows)} row(s)")
    print(f"Copied {copied} row(s) from SQLite into PostgreSQL.")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "revision":
        print(revision())
        return 0
    if command == "migrate-to-postgres" and len(argv) == 2:
        return migrate_to_postgres(argv[1])
    print("usage: python3 -m jhdeploy_hub.dbtools revision | migrate-to-postgres SQLITE_URL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
