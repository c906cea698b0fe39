-- +goose Up
-- Feedback from past clients, and whether they stayed in an NHS
-- psychology role six and twelve months on (issue 15). Anonymous by
-- construction: an answer is stored apart from the referral, with only the
-- programme and the quarter in which therapy ended, under a random key, and
-- no time at all. The single-use invitation is the only link from an answer
-- to a person, and it is deleted in the same transaction as the answer is
-- stored: from then on nothing connects the two, not even in this database.
CREATE TABLE follow_up_invitations (
    hash        bytea PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id),
    kind        text NOT NULL CHECK (kind IN ('feedback', 'stayed-6', 'stayed-12')),
    programme   text NOT NULL,
    quarter     text NOT NULL CHECK (quarter ~ '^[0-9]{4}-Q[1-4]$'),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX follow_up_invitations_by_referral ON follow_up_invitations (referral_id, kind);

CREATE TABLE feedback (
    id        uuid PRIMARY KEY,
    programme text NOT NULL,
    quarter   text NOT NULL CHECK (quarter ~ '^[0-9]{4}-Q[1-4]$'),
    -- 1 (not at all) to 5 (a great deal); NULL: not answered.
    wellbeing smallint CHECK (wellbeing BETWEEN 1 AND 5),
    work      smallint CHECK (work BETWEEN 1 AND 5),
    -- 1 (much less likely to stay in the profession) to 5 (much more).
    stay      smallint CHECK (stay BETWEEN 1 AND 5),
    comment   text NOT NULL DEFAULT ''
);

CREATE TABLE stayed_answers (
    id        uuid PRIMARY KEY,
    programme text NOT NULL,
    quarter   text NOT NULL CHECK (quarter ~ '^[0-9]{4}-Q[1-4]$'),
    months    smallint NOT NULL CHECK (months IN (6, 12)),
    answer    text NOT NULL CHECK (answer IN ('yes', 'no', 'prefer-not-to-say'))
);

-- A former client who asks for no more follow-ups, or whose referral is
-- erased, is sent none.
ALTER TABLE referrals ADD COLUMN follow_ups_stopped_at timestamptz;

-- +goose Down
ALTER TABLE referrals DROP COLUMN follow_ups_stopped_at;
DROP TABLE stayed_answers, feedback, follow_up_invitations;
