-- +goose Up
-- The Chair keeps the committee (issue 13): adds members, changes their
-- office, and removes them. A removed member is kept, for the register's
-- history, but can no longer sign in: their tokens and sessions are revoked when they are removed, and
-- from then on sign-in finds no committee member at their address and a
-- token of theirs, however it was made, authenticates no one.
ALTER TABLE committee_members ADD COLUMN removed_at timestamptz;

-- Sign-in looks members up by address among those not removed.
DROP INDEX committee_members_email_key;
CREATE INDEX committee_members_email_key ON committee_members (email_key) WHERE removed_at IS NULL;

-- +goose Down
-- Before this migration nothing told a removed member from a current one:
-- kept, they would be sent sign-in links and the committee's emails again.
-- They go; the register's history keeps who they were and when they left.
DELETE FROM committee_members WHERE removed_at IS NOT NULL;
DROP INDEX committee_members_email_key;
CREATE INDEX committee_members_email_key ON committee_members (email_key);
ALTER TABLE committee_members DROP COLUMN removed_at;
