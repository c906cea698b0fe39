-- +goose Up
-- The Chair keeps the committee (issue 13): adds members, changes their
-- office, and removes them. A removed member is kept, for the register's
-- history and for the referrals' timelines that name them, but can no longer
-- sign in: their tokens and sessions are revoked when they are removed, and
-- from then on sign-in finds no committee member at their address and a
-- token of theirs, however it was made, authenticates no one.
ALTER TABLE committee_members ADD COLUMN removed_at timestamptz;

-- Sign-in looks members up by address among those not removed.
DROP INDEX committee_members_email_key;
CREATE INDEX committee_members_email_key ON committee_members (email_key) WHERE removed_at IS NULL;

-- +goose Down
DROP INDEX committee_members_email_key;
CREATE INDEX committee_members_email_key ON committee_members (email_key);
ALTER TABLE committee_members DROP COLUMN removed_at;
