-- +goose Up
-- Delivery state of each outbox message. A message is dispatched (its Mail
-- workflow started) once; it is "sending" from the moment the SMTP server
-- has the whole message and is only waiting for the final dot, and sent once
-- the server has accepted it. A message found sending on a retry may have
-- been accepted just before a crash: it is not sent again, but recorded as
-- sent with uncertain = true, for operators.
ALTER TABLE outbox
    ADD COLUMN dispatched_at timestamptz,
    ADD COLUMN sending_at    timestamptz,
    ADD COLUMN uncertain     boolean NOT NULL DEFAULT false,
    ADD COLUMN failed_at     timestamptz,
    ADD COLUMN attempts      integer NOT NULL DEFAULT 0;

-- Messages written before delivery existed are not sent now: a weeks-old
-- "an offer is waiting for you" would mislead.
UPDATE outbox SET dispatched_at = now(), failed_at = now() WHERE sent_at IS NULL;

CREATE INDEX outbox_undispatched ON outbox (id) WHERE dispatched_at IS NULL;

-- +goose Down
DROP INDEX outbox_undispatched;
ALTER TABLE outbox DROP COLUMN dispatched_at, DROP COLUMN sending_at, DROP COLUMN uncertain,
    DROP COLUMN failed_at, DROP COLUMN attempts;
