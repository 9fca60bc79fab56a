"""Storage: the SQLAlchemy models, Alembic migrations, writes (upserts) and read queries.

Owns the database schema and every SQL statement. It knows nothing of Scrapy, of
how text is analysed or how reports look: callers hand it typed rows and get typed
rows back. SQLite (embedded default, WAL) and PostgreSQL (psycopg 3) are both first-class.
"""
