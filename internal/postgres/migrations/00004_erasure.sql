-- +goose Up

-- Retention and the right to erasure. A referral's personal fields (name,
-- email, concerns, preferred location) are blanked a configurable time after
-- it ends, or at once when the trainee asks; the row, its events and its
-- training details stay, anonymised, for statistics. The columns stay NOT
-- NULL: an erased field is ''. email_key becomes 'erased:<id>', which no
-- address can collide with.
ALTER TABLE referrals
    ADD COLUMN ended_at  timestamptz,
    ADD COLUMN erased_at timestamptz;

-- ended_at is the time of the referral's terminal transition, written by the
-- event that records it, so it is the workflow's own clock, like the event's.
-- +goose StatementBegin
CREATE FUNCTION note_referral_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.to_status IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed') THEN
        UPDATE referrals SET ended_at = NEW.at WHERE id = NEW.referral_id AND ended_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER referral_events_note_end AFTER INSERT ON referral_events
    FOR EACH ROW EXECUTE FUNCTION note_referral_end();

UPDATE referrals r SET ended_at = e.at
FROM (SELECT referral_id, max(at) AS at FROM referral_events
      WHERE to_status IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed')
      GROUP BY referral_id) e
WHERE e.referral_id = r.id;

-- What retention looks for: ended, not yet erased, oldest first.
CREATE INDEX referrals_awaiting_erasure ON referrals (ended_at) WHERE erased_at IS NULL AND ended_at IS NOT NULL;

-- Every erasure, why and at whose request. One per referral; nobody can
-- change or remove a row.
CREATE TABLE erasures (
    id           bigserial PRIMARY KEY,
    referral_id  uuid NOT NULL UNIQUE REFERENCES referrals (id),
    requested_by text NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('retention', 'request')),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE ON erasures
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- +goose Down
DROP TABLE erasures;
DROP TRIGGER referral_events_note_end ON referral_events;
DROP FUNCTION note_referral_end();
ALTER TABLE referrals DROP COLUMN erased_at, DROP COLUMN ended_at;
