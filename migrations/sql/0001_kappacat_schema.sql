-- 0001: the kappacat schema and its version table.
-- Roles (kappacat_read, kappacat_ingest) are created by the runner before this file, because
-- their names and passwords come from the settings.
CREATE SCHEMA IF NOT EXISTS kappacat;

CREATE TABLE IF NOT EXISTS kappacat.migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
