//! Rampart's storage interface with SQLite (embedded default) and PostgreSQL backends and their migrations.
