-- +goose Up
-- A self-referral waits here until the trainee confirms their address from
-- the link emailed to it; only then does it become a referral, reach the
-- committee, and start a workflow. So nobody can refer someone else, or
-- make the network email the committee, and a submission answers the same
-- whether or not the address already has an open referral (that address's
-- owner is told by email instead).
--
-- submission is what was typed (health data, so it lives here only), kept
-- until the link is used or expires; then it is emptied, and the row is
-- deleted a day later (PurgeCredentials). Only the SHA-256 of the link's
-- secret is kept. A submission to an address with an open referral stores
-- no submission and no link: only its idempotency key, so a replay answers
-- as the first time did. email_key (referral.EmailKey) and created_at cap
-- the emails one address is sent this way.
CREATE TABLE unconfirmed_referrals (
    id                  uuid PRIMARY KEY,
    hash                bytea UNIQUE,
    submission          jsonb,
    email_key           text NOT NULL,
    submitted_at        timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    idempotency_key     text UNIQUE,
    request_fingerprint text NOT NULL,
    expires_at          timestamptz NOT NULL,
    confirmed_at        timestamptz,
    referral_id         uuid REFERENCES referrals (id)
);
CREATE INDEX unconfirmed_referrals_expired ON unconfirmed_referrals (expires_at);
CREATE INDEX unconfirmed_referrals_per_address ON unconfirmed_referrals (email_key, created_at);

-- +goose Down
DROP TABLE unconfirmed_referrals;
