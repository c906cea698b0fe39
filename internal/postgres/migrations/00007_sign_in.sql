-- +goose Up
-- One-time sign-in links, emailed to committee members, therapists and
-- trainees. Only the SHA-256 of the link's secret is kept, as for tokens; a
-- link works once (used_at) and only until it expires. Using one gives the
-- browser a session: an ordinary short-lived token in a cookie.
CREATE TABLE sign_in_links (
    hash       bytea PRIMARY KEY,
    role       text NOT NULL CHECK (role IN ('trainee', 'committee', 'therapist')),
    subject    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX sign_in_links_expired ON sign_in_links (expires_at);

-- +goose Down
DROP TABLE sign_in_links;
