-- +goose Up

-- Who read or changed which referral, through which action, and what the
-- API answered. Written by the API for every call to a referral route;
-- nobody can change or remove a row (refuse_change, from 00001).
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    referral_id uuid,
    status      integer NOT NULL
);
CREATE INDEX audit_log_by_referral ON audit_log (referral_id, at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- +goose Down
DROP TABLE audit_log;
