-- --- issue 13: shadow models (service.queue.shadows) -------------------------------------
-- Workers may score every comment with shadow models too (REPLYGUARD_SHADOW_MODELS), after
-- the live decision is committed. Their scores sit beside the live model's, marked shadow,
-- with the verdict the comment's policy would have given on them and the milliseconds per
-- comment they took; they never decide anything. A live row keeps its decision in the
-- audit log, so its verdict and time stay null. The key stays (comment, model, version):
-- shadow rows are written after the comment's live decision, so a model that is both
-- live and shadow for a comment keeps its live row.
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'live'
    CHECK (role IN ('live', 'shadow'));
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS verdict text
    CHECK (verdict IN ('approved', 'held', 'rejected'));
ALTER TABLE comment_scores ADD COLUMN IF NOT EXISTS score_ms real;
-- GET /v1/models reads the shadow rows alone, however many live rows there are.
CREATE INDEX IF NOT EXISTS comment_scores_shadow_idx
    ON comment_scores (model_name, model_version, comment_id) WHERE role = 'shadow';

-- Each worker's shadow models as it last reported them with its heartbeat: spec, state
-- (loading, loaded, failed), model, load error, comments scored, failed batches, comments
-- skipped; GET /v1/models and /metrics read them.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS shadow_models jsonb NOT NULL DEFAULT '[]';
