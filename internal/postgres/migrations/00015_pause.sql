-- +goose Up
-- A waiting trainee can pause their place (issue 15): for a placement
-- change, leave or exams. A paused referral keeps its position but is not
-- 'waiting', so the allocator, which only ever reads waiting referrals (and
-- the partial indexes it walks), passes over it. paused_for is the paused
-- time of pauses already over, shown to the committee.
ALTER TABLE queue DROP CONSTRAINT queue_state_check;
ALTER TABLE queue ADD CONSTRAINT queue_state_check
    CHECK (state IN ('waiting', 'paused', 'offered', 'matched', 'left'));
ALTER TABLE queue
    ADD COLUMN paused_at    timestamptz,
    ADD COLUMN paused_until timestamptz,
    ADD COLUMN paused_for   interval NOT NULL DEFAULT '0';
ALTER TABLE queue ADD CONSTRAINT queue_pause_dates
    CHECK ((state = 'paused') = (paused_at IS NOT NULL AND paused_until IS NOT NULL));

-- +goose Down
-- Without pauses, a paused referral simply waits again.
UPDATE queue SET state = 'waiting', paused_at = NULL, paused_until = NULL WHERE state = 'paused';
ALTER TABLE queue DROP CONSTRAINT queue_pause_dates;
ALTER TABLE queue DROP COLUMN paused_at, DROP COLUMN paused_until, DROP COLUMN paused_for;
ALTER TABLE queue DROP CONSTRAINT queue_state_check;
ALTER TABLE queue ADD CONSTRAINT queue_state_check CHECK (state IN ('waiting', 'offered', 'matched', 'left'));
