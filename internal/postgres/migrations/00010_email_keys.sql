-- +goose Up
-- Addresses are compared by one key, made in Go by referral.EmailKey: the
-- address with ASCII letters lower-cased and nothing else changed. Lookups
-- used lower() before, whose folding depends on the collation: under a UTF-8
-- one it folds "ada@therapİst.example" into "ada@therapist.example", so a
-- look-alike domain could be sent another person's sign-in link. The SQL
-- below is EmailKey's twin for rows already stored (translate() maps ASCII
-- letters only, whatever the collation); stored addresses have no
-- surrounding white space, which EmailKey would trim.

-- Committee members and therapists get a key of their own, indexed, in
-- place of lower(email) = lower($1), which scanned every row.
ALTER TABLE committee_members ADD COLUMN email_key text;
UPDATE committee_members SET email_key = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
ALTER TABLE committee_members ALTER COLUMN email_key SET NOT NULL;
CREATE INDEX committee_members_email_key ON committee_members (email_key);

ALTER TABLE therapists ADD COLUMN email_key text;
UPDATE therapists SET email_key = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
ALTER TABLE therapists ALTER COLUMN email_key SET NOT NULL;
CREATE INDEX therapists_email_key ON therapists (email_key);

-- Referrals' keys were Go's strings.ToLower, which is the same for ASCII
-- addresses and differs only for the non-ASCII ones accepted before (the
-- Kelvin sign became "k"), so only those change. ASCII-only lower-casing
-- tells apart every pair of addresses the old key told apart, so no two open
-- referrals can collide on the unique index. A conflict of interest declared
-- against an old key is copied to the new one and kept under the old one
-- too: a conflict that over-applies only passes a therapist over, one that
-- is lost could offer a trainee to someone who manages them.
CREATE TEMPORARY TABLE rekeyed ON COMMIT DROP AS
    SELECT id, email_key AS old_key,
           translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') AS new_key
    FROM referrals
    WHERE erased_at IS NULL
      AND email_key <> translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
INSERT INTO conflicts_of_interest (therapist_id, email_hash, created_at)
    SELECT c.therapist_id, encode(sha256(convert_to(k.new_key, 'UTF8')), 'hex'), c.created_at
    FROM rekeyed k JOIN conflicts_of_interest c ON c.email_hash = encode(sha256(convert_to(k.old_key, 'UTF8')), 'hex')
    ON CONFLICT DO NOTHING;
UPDATE referrals r SET email_key = k.new_key FROM rekeyed k WHERE r.id = k.id;

-- Sign-in looks a trainee up by key among referrals not erased, and so does
-- erasure (is the address still stored elsewhere?); the unique index covers
-- open referrals only.
CREATE INDEX referrals_email_key ON referrals (email_key) WHERE erased_at IS NULL;

-- A conflict of interest is keyed by an unsalted SHA-256 of the email key,
-- which anyone can compute from a guessed address; erasure now deletes it
-- with the last referral that stores the address. Those of trainees whose
-- every referral was erased before go now.
DELETE FROM conflicts_of_interest
WHERE email_hash NOT IN (SELECT encode(sha256(convert_to(email_key, 'UTF8')), 'hex')
                         FROM referrals WHERE erased_at IS NULL);

-- +goose Down
-- Referrals' keys stay as they are (ASCII-lower-cased keys are what the old
-- code wrote for every ASCII address), and deleted conflicts stay deleted.
DROP INDEX referrals_email_key;
DROP INDEX therapists_email_key;
ALTER TABLE therapists DROP COLUMN email_key;
DROP INDEX committee_members_email_key;
ALTER TABLE committee_members DROP COLUMN email_key;
