-- 0005: where each follower of a provider got to. One row per (search, window): a follower
-- (`kappacat discover --follow`) has one open-ended window; a backfill
-- (`kappacat discover --backfill`) one row per date window, walked in order and marked done.
-- The cursor only moves after the products it passed were submitted (jobs are unique per
-- product and model, so what a restart sees again is not submitted twice).
CREATE TABLE IF NOT EXISTS kappacat.follow_cursors (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    search_key text NOT NULL,
    window_start timestamptz,
    window_end timestamptz,
    kind text NOT NULL CHECK (kind IN ('follow', 'backfill')),
    stac_url text NOT NULL,
    search jsonb NOT NULL,
    field text NOT NULL CHECK (field IN ('updated', 'created', 'datetime')),
    position timestamptz,
    done boolean NOT NULL DEFAULT false,
    newest_product text,
    newest_datetime timestamptz,
    seen bigint NOT NULL DEFAULT 0,
    submitted bigint NOT NULL DEFAULT 0,
    state text NOT NULL DEFAULT 'starting',
    last_error text,
    polled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A follower's window is open at both ends (NULL); one cursor per search and window.
CREATE UNIQUE INDEX IF NOT EXISTS follow_cursors_window_key ON kappacat.follow_cursors
    (search_key, coalesce(window_start, '-infinity'), coalesce(window_end, 'infinity'));

COMMENT ON TABLE kappacat.follow_cursors IS 'How far each follower or backfill window of a provider search got.';
COMMENT ON COLUMN kappacat.follow_cursors.search_key IS 'Hash of the provider URL and the search (collections, area, dates, cloud bound).';
COMMENT ON COLUMN kappacat.follow_cursors.window_start IS 'Start of a backfill window (sensing time); NULL for a follower.';
COMMENT ON COLUMN kappacat.follow_cursors.field IS 'The item property the cursor is on: the provider''s updated or created time, else datetime.';
COMMENT ON COLUMN kappacat.follow_cursors.position IS 'Every product with field before this (less the overlap) was submitted.';
COMMENT ON COLUMN kappacat.follow_cursors.newest_datetime IS 'Sensing time of the newest product seen: the follower''s lag is its age.';
COMMENT ON COLUMN kappacat.follow_cursors.state IS 'following, waiting for the queue, provider down, done, ...';
