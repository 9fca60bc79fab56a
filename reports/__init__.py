"""Reports: the monthly HTML report (Jinja2, autoescaped), its charts, and their inputs.

Owns presentation: it reads indicator values and matched items through `storage.queries`
and turns them into pages people read. It never crawls, matches or writes to the database.
"""
