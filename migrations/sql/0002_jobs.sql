-- 0002: the ingest job table, the record of what was asked and what happened.
-- One job per (source product, model). The broker only carries work: a message names a job
-- and the job's current message_id; a message whose id is no longer the job's is stale.
CREATE TABLE IF NOT EXISTS kappacat.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id text NOT NULL,
    model text NOT NULL,
    model_card text,
    source text NOT NULL,
    collection text,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped')),
    stage text NOT NULL DEFAULT 'fetch'
        CHECK (stage IN ('fetch', 'infer', 'publish', 'done')),
    force boolean NOT NULL DEFAULT false,
    attempts integer NOT NULL DEFAULT 0,
    recoveries integer NOT NULL DEFAULT 0,
    last_error text,
    timings jsonb NOT NULL DEFAULT '{}'::jsonb,
    worker text,
    message_id text,
    lease_expires_at timestamptz,
    product jsonb,
    output jsonb,
    output_href text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    CONSTRAINT jobs_product_model_key UNIQUE (product_id, model)
);

COMMENT ON TABLE kappacat.jobs IS 'Ingest jobs: one per (source product, model).';
COMMENT ON COLUMN kappacat.jobs.model_card IS 'Where workers load the model card from (a name or a file); the model id when NULL.';
COMMENT ON COLUMN kappacat.jobs.stage IS 'The stage to run next, or running now (fetch, infer, publish), or done.';
COMMENT ON COLUMN kappacat.jobs.attempts IS 'Stage runs started, over the whole job.';
COMMENT ON COLUMN kappacat.jobs.recoveries IS 'Times the job was taken back from a lost worker.';
COMMENT ON COLUMN kappacat.jobs.timings IS 'Seconds per step: fetch, read, infer, cog, upload, publish, ...';
COMMENT ON COLUMN kappacat.jobs.message_id IS 'The broker message that may run the job now.';
COMMENT ON COLUMN kappacat.jobs.product IS 'Source product metadata, read by the fetch stage.';
COMMENT ON COLUMN kappacat.jobs.output IS 'Storage keys and the item built by the infer stage.';

CREATE INDEX IF NOT EXISTS jobs_status_stage_idx ON kappacat.jobs (status, stage);
CREATE INDEX IF NOT EXISTS jobs_lease_idx ON kappacat.jobs (lease_expires_at)
    WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_updated_idx ON kappacat.jobs (updated_at DESC);
