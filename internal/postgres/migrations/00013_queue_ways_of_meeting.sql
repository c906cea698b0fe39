-- +goose Up
-- Waking the queue stays cheap (issue 13). When a place is freed, the
-- allocator walks the waiting referrals in queue order to the first the
-- therapist can take. Since trainees say how they can meet, many waiting
-- may be unable to meet that therapist at all: an online-only therapist's
-- place, with everyone waiting needing to meet in person, walked the whole
-- queue (41 ms at 10,000 waiting; BENCHMARKS.md, section 4). The queue now
-- keeps a copy of how each referral can meet, and one index per way a
-- therapist can be met, so the walk visits only referrals who could meet
-- them: online (online or either), in person anywhere (either, naming no
-- area), or in person in named areas.

ALTER TABLE queue
    ADD COLUMN meeting text NOT NULL DEFAULT 'either',
    ADD COLUMN areas text[] NOT NULL DEFAULT '{}';
UPDATE queue q SET meeting = r.pref_meeting, areas = r.pref_areas FROM referrals r WHERE r.id = q.referral_id;

-- The copy is the database's to keep: taken from the referral when it
-- joins the queue, and kept in step if the referral's preferences change
-- (erasure clears its areas), so no writer of either table has to know.
-- +goose StatementBegin
CREATE FUNCTION queue_copy_meeting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT pref_meeting, pref_areas INTO NEW.meeting, NEW.areas FROM referrals WHERE id = NEW.referral_id;
    RETURN NEW;
END;
$$;
CREATE FUNCTION referrals_sync_queue_meeting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE queue SET meeting = NEW.pref_meeting, areas = NEW.pref_areas WHERE referral_id = NEW.id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER queue_copy_meeting BEFORE INSERT ON queue
    FOR EACH ROW EXECUTE FUNCTION queue_copy_meeting();
CREATE TRIGGER referrals_sync_queue_meeting AFTER UPDATE OF pref_meeting, pref_areas ON referrals
    FOR EACH ROW WHEN (OLD.pref_meeting IS DISTINCT FROM NEW.pref_meeting OR OLD.pref_areas IS DISTINCT FROM NEW.pref_areas)
    EXECUTE FUNCTION referrals_sync_queue_meeting();

-- One per way of meeting a therapist, in queue order, waiting only: online
-- (online only or either way); in person anywhere (either way, naming no
-- area); in person in named areas (either way or in person only), for a
-- therapist who sees people in person only; in person only, for one who
-- also works online (who can meet everyone else online). The predicates are
-- the allocator's (meetingPaths in allocation.go), word for word, so the
-- planner can use them.
CREATE INDEX queue_waiting_online ON queue (position) WHERE state = 'waiting' AND meeting <> 'in_person';
CREATE INDEX queue_waiting_anywhere ON queue (position) WHERE state = 'waiting' AND meeting = 'either' AND areas = '{}';
CREATE INDEX queue_waiting_in_areas ON queue (position) WHERE state = 'waiting' AND meeting <> 'online' AND areas <> '{}';
CREATE INDEX queue_waiting_in_person ON queue (position) WHERE state = 'waiting' AND meeting = 'in_person';

-- +goose Down
DROP INDEX queue_waiting_online, queue_waiting_anywhere, queue_waiting_in_areas, queue_waiting_in_person;
DROP TRIGGER referrals_sync_queue_meeting ON referrals;
DROP TRIGGER queue_copy_meeting ON queue;
DROP FUNCTION referrals_sync_queue_meeting(), queue_copy_meeting();
ALTER TABLE queue DROP COLUMN meeting, DROP COLUMN areas;
