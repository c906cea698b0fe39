-- +goose Up

-- The register of employers whose trainees the network serves. Operators
-- maintain it through the API; 00002 seeds it with the region's NHS trusts.
CREATE TABLE organisations (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{3,6}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CHECK (kind IN ('nhs_trust', 'nhs_contracted')),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE programmes (
    code text PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO programmes (code, name) VALUES
    ('clinical', 'Clinical psychology'),
    ('counselling', 'Counselling psychology'),
    ('educational', 'Educational psychology'),
    ('forensic', 'Forensic psychology'),
    ('health', 'Health psychology'),
    ('occupational', 'Occupational psychology'),
    ('sport_exercise', 'Sport and exercise psychology');

-- Personal and health details live here and nowhere else: workflows, search
-- attributes, logs and messages carry the id only.
CREATE TABLE referrals (
    id                     uuid PRIMARY KEY,
    name                   text NOT NULL,
    email                  text NOT NULL,
    email_key              text NOT NULL, -- lower-cased, for duplicate detection
    programme              text NOT NULL,
    employer               text NOT NULL,
    training_start         date NOT NULL,
    expected_qualification date,
    concerns               text NOT NULL,
    pref_remote            boolean NOT NULL DEFAULT false,
    pref_location          text NOT NULL DEFAULT '',
    status                 text NOT NULL DEFAULT 'submitted',
    eligible               boolean,
    eligibility_reason     text NOT NULL DEFAULT '',
    cutoff                 date,
    idempotency_key        text UNIQUE,
    request_fingerprint    text NOT NULL,
    last_seq               integer NOT NULL DEFAULT 0,
    submitted_at           timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- One open referral per person: a second submission while one is open is a
-- duplicate, however it arrives.
CREATE UNIQUE INDEX referrals_one_open_per_email ON referrals (email_key)
    WHERE status NOT IN ('ineligible', 'declined', 'ended', 'withdrawn', 'lapsed');
CREATE INDEX referrals_by_status ON referrals (status, submitted_at DESC, id DESC);
CREATE INDEX referrals_by_time ON referrals (submitted_at DESC, id DESC);

-- Every transition, in order. seq is the workflow's own counter, which makes
-- recording a transition idempotent under activity retries.
CREATE TABLE referral_events (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    note_id     bigint,
    UNIQUE (referral_id, seq)
);

-- Free text written by people about a referral (a committee's decline
-- reason, a therapist's). It may say anything, so it stays in Postgres and
-- the workflow only sees its id.
CREATE TABLE referral_notes (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id),
    author      text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER referral_events_append_only BEFORE UPDATE OR DELETE ON referral_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE committee_members (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('chair', 'secretary', 'treasurer', 'member')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- places_used counts open and accepted offers. The CHECK is the last line of
-- defence against over-allocation: no interleaving of offers, acceptances or
-- capacity changes can commit a therapist beyond their capacity.
CREATE TABLE therapists (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    email               text NOT NULL,
    hcpc_number         text NOT NULL UNIQUE CHECK (hcpc_number ~ '^PYL[0-9]{1,8}$'),
    capacity            integer NOT NULL CHECK (capacity >= 0),
    places_used         integer NOT NULL DEFAULT 0,
    active              boolean NOT NULL DEFAULT true,
    remote              boolean NOT NULL DEFAULT false,
    locations           text[] NOT NULL DEFAULT '{}',
    conflict_programmes text[] NOT NULL DEFAULT '{}',
    conflict_employers  text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT places_within_capacity CHECK (places_used >= 0 AND places_used <= capacity)
);

-- The queue of approved referrals. position is taken once, at approval, and
-- never changes: it is the first-come-first-served order, kept across
-- declined and expired offers.
CREATE TABLE queue (
    referral_id uuid PRIMARY KEY REFERENCES referrals (id),
    position    bigserial UNIQUE,
    state       text NOT NULL CHECK (state IN ('waiting', 'offered', 'matched', 'left')),
    entered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_waiting ON queue (position) WHERE state = 'waiting';

CREATE TABLE offers (
    id           uuid PRIMARY KEY,
    referral_id  uuid NOT NULL REFERENCES referrals (id),
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    state        text NOT NULL CHECK (state IN ('open', 'accepted', 'declined', 'expired', 'withdrawn', 'ended')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz, -- set by the workflow when it starts the offer's clock
    answered_at  timestamptz,
    closed_at    timestamptz,
    -- false until the referral's workflow has been told of the offer; a crash
    -- between allocating and telling is repaired by the next reconcile.
    announced    boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX offers_one_live_per_referral ON offers (referral_id) WHERE state IN ('open', 'accepted');
CREATE INDEX offers_by_therapist ON offers (therapist_id, state);
CREATE INDEX offers_unannounced ON offers (created_at) WHERE NOT announced;

-- A therapist who declined, or let an offer lapse, is not offered that
-- referral again.
CREATE TABLE exclusions (
    referral_id  uuid NOT NULL REFERENCES referrals (id),
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    PRIMARY KEY (referral_id, therapist_id)
);

-- Bearer tokens, stored as SHA-256 hashes only.
CREATE TABLE tokens (
    hash       bytea PRIMARY KEY,
    role       text NOT NULL CHECK (role IN ('trainee', 'committee', 'therapist', 'operator')),
    subject    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX tokens_by_subject ON tokens (role, subject);

-- Messages to people, written once per lifecycle event (dedupe_key) and
-- delivered by a later stage. They name no health details.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    dedupe_key  text NOT NULL UNIQUE,
    referral_id uuid REFERENCES referrals (id),
    recipient   text NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);

-- +goose Down
DROP TABLE outbox, tokens, exclusions, offers, queue, therapists, committee_members,
    referral_notes, referral_events, referrals, programmes, organisations;
DROP FUNCTION refuse_change();
