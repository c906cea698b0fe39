-- +goose Up
-- The register and the match (issue 13). Trainees say how they can meet a
-- therapist (online, in person in named areas, or either) and therapists say
-- how and where they work, both from one list of areas the committee keeps,
-- so the two can be compared exactly: an offer is made only where they can
-- meet. Before this, preferences were free text and only broke ties.

-- The areas of the West Midlands where people meet in person: one list for
-- therapists and trainees alike, kept by the committee. An area is retired
-- (active = false) rather than deleted, so no referral or therapist is left
-- pointing at nothing.
CREATE TABLE areas (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{1,39}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO areas (code, name) VALUES
    ('birmingham', 'Birmingham'),
    ('coventry', 'Coventry'),
    ('dudley', 'Dudley'),
    ('herefordshire', 'Herefordshire'),
    ('sandwell', 'Sandwell'),
    ('shropshire', 'Shropshire'),
    ('solihull', 'Solihull'),
    ('staffordshire', 'Staffordshire'),
    ('stoke-on-trent', 'Stoke-on-Trent'),
    ('telford-and-wrekin', 'Telford and Wrekin'),
    ('walsall', 'Walsall'),
    ('warwickshire', 'Warwickshire'),
    ('wolverhampton', 'Wolverhampton'),
    ('worcestershire', 'Worcestershire');

-- How a trainee can meet: 'online' only, 'in_person' only (in one of
-- pref_areas), or 'either' (online, or in person in pref_areas; in person
-- anywhere when they named no area). 'either' with no areas is "no
-- preference", the default.
ALTER TABLE referrals
    ADD COLUMN pref_meeting text NOT NULL DEFAULT 'either' CHECK (pref_meeting IN ('online', 'in_person', 'either')),
    ADD COLUMN pref_areas text[] NOT NULL DEFAULT '{}',
    ADD COLUMN pref_same_discipline boolean NOT NULL DEFAULT false,
    ADD COLUMN pref_note text NOT NULL DEFAULT '';

-- Referrals already stored said "happy online" (pref_remote) and a free-text
-- location, both only tie-breakers. A location naming an area becomes that
-- area; one naming none is kept in pref_note for the committee to read, and
-- the trainee is treated as meeting either way, so no one already waiting is
-- held back by a wish that was never a condition.
UPDATE referrals r SET
    pref_areas = ARRAY[a.code]
    FROM areas a WHERE r.pref_location <> '' AND lower(r.pref_location) IN (lower(a.name), a.code);
UPDATE referrals SET pref_note = 'Location given before areas were listed: ' || pref_location
    WHERE pref_location <> '' AND cardinality(pref_areas) = 0;
ALTER TABLE referrals DROP COLUMN pref_remote, DROP COLUMN pref_location;

-- How a therapist works: online, in person (in areas), or both; their own
-- disciplines (the programmes they trained in); away (active = false, with
-- an optional date they come back by themselves); retired (no new offers,
-- current clients kept).
ALTER TABLE therapists
    ADD COLUMN online boolean NOT NULL DEFAULT true,
    ADD COLUMN in_person boolean NOT NULL DEFAULT false,
    ADD COLUMN areas text[] NOT NULL DEFAULT '{}',
    ADD COLUMN disciplines text[] NOT NULL DEFAULT '{}',
    ADD COLUMN away_until date,
    ADD COLUMN retired_at timestamptz,
    ADD CONSTRAINT works_somehow CHECK (online OR in_person);
UPDATE therapists t SET
    online = t.remote OR cardinality(t.locations) = 0,
    in_person = cardinality(t.locations) > 0,
    areas = coalesce((SELECT array_agg(DISTINCT a.code ORDER BY a.code) FROM areas a, unnest(t.locations) l
                      WHERE lower(l) IN (lower(a.name), a.code)), '{}');
ALTER TABLE therapists DROP COLUMN remote, DROP COLUMN locations;

-- Lowering capacity below the places in use is allowed now: it takes effect
-- as clients finish. The allocator never takes a place unless one is free
-- (reserve's guarded UPDATE), which is what the old CHECK stood for.
ALTER TABLE therapists DROP CONSTRAINT places_within_capacity,
    ADD CONSTRAINT places_not_negative CHECK (places_used >= 0);

-- can_meet is the one rule of how a trainee and a therapist can meet. Go's
-- referral.CanMeet is its twin, checked against it by the allocator's model
-- test.
-- +goose StatementBegin
CREATE FUNCTION can_meet(meeting text, wanted text[], online boolean, in_person boolean, areas text[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE meeting
        WHEN 'online' THEN online
        WHEN 'in_person' THEN in_person AND areas && wanted
        ELSE online OR (in_person AND (cardinality(wanted) = 0 OR areas && wanted))
    END
$$;
-- +goose StatementEnd

-- Every change to the register (therapists, committee members, employers,
-- areas) is kept: who made it, when, and each field's value before and
-- after. Append-only, like the referral events.
CREATE TABLE register_changes (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_role  text NOT NULL,
    actor_id    text NOT NULL,
    entity      text NOT NULL CHECK (entity IN ('therapist', 'committee_member', 'organisation', 'area')),
    entity_id   text NOT NULL,
    action      text NOT NULL,
    changes     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX register_changes_by_entity ON register_changes (entity, entity_id, id);
CREATE TRIGGER register_changes_append_only BEFORE UPDATE OR DELETE ON register_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- +goose Down
DROP TABLE register_changes;
DROP FUNCTION can_meet(text, text[], boolean, boolean, text[]);
ALTER TABLE therapists DROP CONSTRAINT places_not_negative, DROP CONSTRAINT works_somehow,
    ADD COLUMN remote boolean NOT NULL DEFAULT false,
    ADD COLUMN locations text[] NOT NULL DEFAULT '{}';
UPDATE therapists SET remote = online, locations = areas;
UPDATE therapists SET capacity = places_used WHERE capacity < places_used;
ALTER TABLE therapists DROP COLUMN online, DROP COLUMN in_person, DROP COLUMN areas, DROP COLUMN disciplines,
    DROP COLUMN away_until, DROP COLUMN retired_at,
    ADD CONSTRAINT places_within_capacity CHECK (places_used >= 0 AND places_used <= capacity);
ALTER TABLE referrals ADD COLUMN pref_remote boolean NOT NULL DEFAULT false,
    ADD COLUMN pref_location text NOT NULL DEFAULT '';
UPDATE referrals SET pref_remote = pref_meeting <> 'in_person', pref_location = coalesce(pref_areas[1], '');
ALTER TABLE referrals DROP COLUMN pref_meeting, DROP COLUMN pref_areas, DROP COLUMN pref_same_discipline, DROP COLUMN pref_note;
DROP TABLE areas;
