"""Persistence: tables, the embedded server, the transaction runner, migrations.

Only this layer (and services through it) talks SQL.

One query style: SQLAlchemy Core ``text()`` statements with named parameters (``:name``), run on
the ``Connection`` that :class:`~reception_app.store.database.Database`'s runners (``read``,
``write``, ``admin``) hand in. Why this and not plain psycopg everywhere: the runners own the pool,
the transaction, serialization retries and the mapping of PostgreSQL's errors to the domain's
(``translate``), and SQLAlchemy's ``Connection`` is what Alembic migrates on, so every statement —
the program's and the migrations' — runs through one kind of connection with one error path. Why
not the ORM or generated SQL: the rules live in the database (``db/sql/``) and the queries are
PostgreSQL's own (ranges, ``EXCLUDE``, ``FOR UPDATE``, ``COPY``); ``text()`` keeps them readable
as SQL. :mod:`.schema` keeps ``Table`` objects only where a service builds an ``INSERT`` from them.

Plain psycopg is used only where there is no runner or SQLAlchemy cannot do the job, each said in
its module: a sign-in probe and the embedded server's set-up before a ``Database`` exists
(:mod:`.connect`, :mod:`.embedded`), ``LISTEN`` on an autocommit connection of its own
(:mod:`.listen`), and — through :func:`.database.driver`, on the runner's own connection and
transaction — ``COPY``, hot-path reads, role statements with quoted identifiers (:mod:`.logins`)
and whole SQL files (``db.apply_sql_files``).
"""
