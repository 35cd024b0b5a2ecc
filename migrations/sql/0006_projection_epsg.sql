-- 0006: masks published before projection v1.2.0 carry the CRS as `proj:code` only, under
-- projection v2.0.0. stackstac reads only `proj:epsg`, which v2.0.0 removed, so they now
-- declare v1.2.0 (which has both fields) and get `proj:epsg` next to `proj:code`, as new
-- items do (ingest/items.py). Items already right are not touched; running it again is a no-op.
UPDATE pgstac.items SET content = jsonb_set(
    jsonb_set(
        content,
        '{assets,mask,proj:epsg}',
        to_jsonb(substr(content #>> '{assets,mask,proj:code}', 6)::integer)
    ),
    '{stac_extensions}',
    (
        SELECT jsonb_agg(
            CASE WHEN ext #>> '{}' = 'https://stac-extensions.github.io/projection/v2.0.0/schema.json'
                THEN to_jsonb('https://stac-extensions.github.io/projection/v1.2.0/schema.json'::text)
                ELSE ext END
            ORDER BY n
        )
        FROM jsonb_array_elements(content -> 'stac_extensions') WITH ORDINALITY AS e(ext, n)
    )
)
WHERE content #>> '{assets,mask,proj:code}' ~ '^EPSG:[0-9]+$'
    AND NOT content #> '{assets,mask}' ? 'proj:epsg'
    AND content -> 'stac_extensions' ? 'https://stac-extensions.github.io/projection/v2.0.0/schema.json';
