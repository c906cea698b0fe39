-- +goose Up

-- A trainee who says they are at risk of harming themselves: the committee
-- is told for same-day attention. Health data, so it lives here only.
ALTER TABLE referrals ADD COLUMN at_risk boolean NOT NULL DEFAULT false;

-- closed_no_response (a check-in not answered) is a final status too.
DROP INDEX referrals_one_open_per_email;
CREATE UNIQUE INDEX referrals_one_open_per_email ON referrals (email_key)
    WHERE status NOT IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed', 'closed_no_response');

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION note_referral_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.to_status IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed', 'closed_no_response') THEN
        UPDATE referrals SET ended_at = NEW.at WHERE id = NEW.referral_id AND ended_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- A therapist who declared a conflict of interest with a trainee (taught,
-- supervised, assessed, managed, same team, personal relationship) is never
-- offered that trainee again, in this referral or any later one. Keyed by a
-- SHA-256 of the trainee's email key (the only identity a trainee has across
-- referrals), so the rule outlives the erasure of their details without
-- keeping their address.
CREATE TABLE conflicts_of_interest (
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    email_hash   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (therapist_id, email_hash)
);

-- +goose Down
DROP TABLE conflicts_of_interest;
DROP INDEX referrals_one_open_per_email;
CREATE UNIQUE INDEX referrals_one_open_per_email ON referrals (email_key)
    WHERE status NOT IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed');
ALTER TABLE referrals DROP COLUMN at_risk;
