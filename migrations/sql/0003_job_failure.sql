-- 0003: why a failed job failed, so that re-submitting it knows whether it may resume.
-- input: the product itself is unusable; only `kappacat ingest --force` tries it again.
-- transient: retries ran out on a fault outside the product (storage, network, a time limit);
-- lost: its worker was lost too often. A plain `kappacat ingest` resumes both where they stopped.
ALTER TABLE kappacat.jobs ADD COLUMN IF NOT EXISTS failure text
    CHECK (failure IN ('input', 'transient', 'lost'));

COMMENT ON COLUMN kappacat.jobs.failure IS
    'Why a failed job failed: input (bad product; only --force retries), transient or lost (a plain re-ingest resumes it).';
