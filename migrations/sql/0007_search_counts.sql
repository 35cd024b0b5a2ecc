-- 0007: searches answer `numberMatched` (pystac-client's `matched()`), through pgstac's context
-- settings: exact (a count) while the search is cheap, the planner's estimate once both the
-- estimated rows and the estimated cost reach 10 000 (counting those would cost more than the
-- page itself). Counts are kept per filter for a minute (`context_stats_ttl`), so a page and the
-- next share one count. An operator may change these rows later; this runs only once.
INSERT INTO pgstac.pgstac_settings (name, value) VALUES
    ('context', 'auto'),
    ('context_estimated_count', '10000'),
    ('context_estimated_cost', '10000'),
    ('context_stats_ttl', '1 minute')
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
