-- +goose Up
-- A sign-in request is recorded as it is, for any address, and answered
-- after the response (pipeline.RequestSignIn), so the answer takes the same
-- work whether the address has an account or not. A request lives only
-- until it is answered; the typed address goes with it.
CREATE TABLE sign_in_requests (
    id           bigserial PRIMARY KEY,
    email        text NOT NULL,
    next         text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now(),
    -- A request whose answer failed waits before it is tried again, so
    -- that it holds up no other.
    attempts     int NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL DEFAULT now()
);

-- The cap on sign-in emails per account counts its recent links.
CREATE INDEX sign_in_links_account ON sign_in_links (role, subject, created_at);

-- +goose Down
DROP INDEX sign_in_links_account;
DROP TABLE sign_in_requests;
