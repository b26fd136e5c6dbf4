"""The database: tables, engine, migrations and the queries over them."""
