-- +goose Up
-- A trainee in an NHS-contracted service that is not on the employer
-- register is eligible too (issue 14): they name the service in their own
-- words, and the committee checks it before approving. employer is then
-- empty. The name is erased with the rest of the referral's words.
ALTER TABLE referrals ADD COLUMN employer_name text NOT NULL DEFAULT '';
ALTER TABLE referrals ADD CONSTRAINT referrals_one_employer
    CHECK ((employer = '') <> (employer_name = '') OR erased_at IS NOT NULL);

-- +goose Down
-- Before this migration every referral named a registered employer. One
-- that named a service not on the register keeps its name in the note for
-- the committee, so nothing the trainee typed is lost.
UPDATE referrals SET pref_note = trim(both ' ' FROM 'Employer not on the register: ' || employer_name || '. ' || pref_note)
    WHERE employer_name <> '';
ALTER TABLE referrals DROP CONSTRAINT referrals_one_employer;
ALTER TABLE referrals DROP COLUMN employer_name;
