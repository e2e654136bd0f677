"""Create the database named by DATABASE_URL when it does not exist yet.

Run before `migrate` on a fresh machine (the Makefile does). It connects to the server's
`postgres` maintenance database with the same credentials, so it needs no extra settings.
"""

import sys
from pathlib import Path

import environ
import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    env = environ.Env()
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    db = env.db("DATABASE_URL", default="postgres://127.0.0.1:5432/switchboard")
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    name = db["NAME"]
    try:
        with psycopg.connect(
            dbname="postgres", autocommit=True, connect_timeout=5, **params
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                print(f"database {name!r} exists")
                return 0
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name!r}")
            return 0
    except psycopg.OperationalError as exc:
        print(
            f"cannot reach PostgreSQL at {params['host']}:{params['port']}: {exc}", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
