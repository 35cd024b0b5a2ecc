-- 0004: a job can also fail because its model card (or the card's ONNX file) was unusable:
-- config. Like transient and lost, a plain `kappacat ingest` resumes it once that is fixed.
ALTER TABLE kappacat.jobs DROP CONSTRAINT IF EXISTS jobs_failure_check;
ALTER TABLE kappacat.jobs ADD CONSTRAINT jobs_failure_check
    CHECK (failure IN ('input', 'config', 'transient', 'lost'));

COMMENT ON COLUMN kappacat.jobs.failure IS
    'Why a failed job failed: input (bad product; only --force retries), config (its model card; fix it), transient or lost (a plain re-ingest resumes config, transient and lost).';
