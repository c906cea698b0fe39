package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

const therapistColumns = `id, name, email, hcpc_number, disciplines, capacity, places_used, active, away_until,
	online, in_person, areas, conflict_programmes, conflict_employers, retired_at, created_at`

func scanTherapist(row pgx.Row) (referral.Therapist, error) {
	var t referral.Therapist
	var away *time.Time
	err := row.Scan(&t.ID, &t.Name, &t.Email, &t.HCPCNumber, &t.Disciplines, &t.Capacity, &t.PlacesUsed, &t.Active, &away,
		&t.Online, &t.InPerson, &t.Areas, &t.Conflicts.Programmes, &t.Conflicts.Employers, &t.RetiredAt, &t.CreatedAt)
	t.AwayUntil = dateOf(away)
	return t, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// therapistFields is what the register's history compares of a therapist:
// every field a person can change, by the API's names.
func therapistFields(t referral.Therapist) map[string]any {
	var away any
	if t.AwayUntil != nil {
		away = t.AwayUntil.String()
	}
	return map[string]any{
		"name": t.Name, "email": t.Email, "hcpc_number": t.HCPCNumber, "disciplines": orEmpty(t.Disciplines),
		"capacity": t.Capacity, "away": !t.Active, "away_until": away, "online": t.Online, "in_person": t.InPerson,
		"areas": orEmpty(t.Areas), "conflicts.programmes": orEmpty(t.Conflicts.Programmes),
		"conflicts.employers": orEmpty(t.Conflicts.Employers), "retired": t.RetiredAt != nil,
	}
}

// CreateTherapist adds a therapist to the register, records who added them,
// and offers their places to the queue at once. A second therapist with the
// same HCPC number is referral.ErrDuplicate.
func (db *DB) CreateTherapist(ctx context.Context, actor referral.Principal, t referral.Therapist) (referral.Therapist, error) {
	t.ID = NewID()
	err := db.allocate(ctx, func(tx pgx.Tx) error {
		// ON CONFLICT DO NOTHING: a unique violation would put the HCPC
		// number in PostgreSQL's log (its DETAIL).
		out, err := scanTherapist(tx.QueryRow(ctx, `
			INSERT INTO therapists (id, name, email, email_key, hcpc_number, disciplines, capacity, active, online, in_person, areas,
				conflict_programmes, conflict_employers)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (hcpc_number) DO NOTHING RETURNING `+therapistColumns,
			t.ID, t.Name, t.Email, referral.EmailKey(t.Email), t.HCPCNumber, orEmpty(t.Disciplines), t.Capacity, t.Active,
			t.Online, t.InPerson, orEmpty(t.Areas), orEmpty(t.Conflicts.Programmes), orEmpty(t.Conflicts.Employers)))
		if errors.Is(err, pgx.ErrNoRows) {
			return referral.ErrDuplicate
		}
		if err != nil {
			return err
		}
		if err := recordChange(ctx, tx, actor, "therapist", t.ID, "added", nil, therapistFields(out)); err != nil {
			return err
		}
		return fillPlaces(ctx, tx, t.ID)
	})
	if errors.Is(err, referral.ErrDuplicate) {
		return t, fmt.Errorf("a therapist with that HCPC number is registered: %w", referral.ErrDuplicate)
	}
	if err != nil {
		return t, fmt.Errorf("create therapist: %w", err)
	}
	return db.Therapist(ctx, t.ID)
}

// changeTherapist runs one change to a therapist under the allocation lock,
// so it cannot race an offer: it locks the row, applies the change, records
// what changed in the register's history (nothing, when nothing did), and
// gives any places the change freed to the queue.
func (db *DB) changeTherapist(ctx context.Context, actor referral.Principal, id, action string, apply func(tx pgx.Tx) error) (referral.Therapist, error) {
	var out referral.Therapist
	err := db.allocate(ctx, func(tx pgx.Tx) error {
		before, err := scanTherapist(tx.QueryRow(ctx, `SELECT `+therapistColumns+` FROM therapists WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		if err := apply(tx); err != nil {
			return err
		}
		if out, err = scanTherapist(tx.QueryRow(ctx, `SELECT `+therapistColumns+` FROM therapists WHERE id = $1`, id)); err != nil {
			return err
		}
		if err := recordChange(ctx, tx, actor, "therapist", id, action, therapistFields(before), therapistFields(out)); err != nil {
			return err
		}
		return fillPlaces(ctx, tx, id)
	})
	if err != nil {
		return out, fmt.Errorf("%s therapist %s: %w", action, id, err)
	}
	return out, nil
}

// UpdateTherapist applies a patch. Capacity may go below the places in use:
// clients already offered or matched keep their places, and the lower
// capacity takes effect as they finish.
func (db *DB) UpdateTherapist(ctx context.Context, actor referral.Principal, id string, p referral.TherapistPatch) (referral.Therapist, error) {
	return db.changeTherapist(ctx, actor, id, "changed", func(tx pgx.Tx) error {
		sets := []string{"updated_at = now()"}
		args := []any{id}
		add := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
		}
		if p.Name != nil {
			add("name", *p.Name)
		}
		if p.Email != nil {
			add("email", *p.Email)
			add("email_key", referral.EmailKey(*p.Email))
		}
		if p.Disciplines != nil {
			add("disciplines", orEmpty(*p.Disciplines))
		}
		if p.Capacity != nil {
			add("capacity", *p.Capacity)
		}
		if p.Online != nil {
			add("online", *p.Online)
		}
		if p.InPerson != nil {
			add("in_person", *p.InPerson)
		}
		if p.Areas != nil {
			add("areas", orEmpty(*p.Areas))
		}
		if p.Conflicts != nil {
			add("conflict_programmes", orEmpty(p.Conflicts.Programmes))
			add("conflict_employers", orEmpty(p.Conflicts.Employers))
		}
		_, err := tx.Exec(ctx, `UPDATE therapists SET `+strings.Join(sets, ", ")+` WHERE id = $1`, args...)
		if checkViolation(err, "works_somehow") {
			return fmt.Errorf("a therapist must work online, in person or both: %w", referral.ErrConflict)
		}
		return err
	})
}

// PauseTherapist marks a therapist away: until a date (when ReturnTherapist
// brings them back), or until further notice (nil). They are offered
// nothing while away; their current clients and open offers stay theirs.
func (db *DB) PauseTherapist(ctx context.Context, actor referral.Principal, id string, until *referral.Date) (referral.Therapist, error) {
	return db.changeTherapist(ctx, actor, id, "away", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE therapists SET active = false, away_until = $2, updated_at = now() WHERE id = $1`, id, pgDate(until))
		return err
	})
}

// ResumeTherapist brings a therapist back from being away; their free
// places go to the waitlist at once.
func (db *DB) ResumeTherapist(ctx context.Context, actor referral.Principal, id string) (referral.Therapist, error) {
	return db.changeTherapist(ctx, actor, id, "back", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE therapists SET active = true, away_until = NULL, updated_at = now() WHERE id = $1`, id)
		return err
	})
}

// ReturnTherapist brings a therapist back on the date they said, if they
// are still away until that very date: a return that was cancelled, brought
// forward or moved since changes nothing, so a stale timer, or a retried
// activity, is harmless. It reports whether they came back.
func (db *DB) ReturnTherapist(ctx context.Context, id string, until referral.Date) (bool, error) {
	back := false
	_, err := db.changeTherapist(ctx, referral.Principal{Role: "system", Subject: "away-until"}, id, "back", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE therapists SET active = true, away_until = NULL, updated_at = now()
			WHERE id = $1 AND NOT active AND away_until = $2 AND retired_at IS NULL`, id, pgDate(&until))
		back = tag.RowsAffected() == 1
		return err
	})
	return back, err
}

// RetireTherapist takes a therapist off the register: no new offers, while
// their current clients (and any offer still open) stay with them until
// their therapy ends. Retiring twice changes nothing.
func (db *DB) RetireTherapist(ctx context.Context, actor referral.Principal, id string) (referral.Therapist, error) {
	return db.changeTherapist(ctx, actor, id, "retired", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE therapists SET retired_at = coalesce(retired_at, now()), away_until = NULL, updated_at = now() WHERE id = $1`, id)
		return err
	})
}

// Therapist loads one therapist.
func (db *DB) Therapist(ctx context.Context, id string) (referral.Therapist, error) {
	t, err := scanTherapist(db.pool.QueryRow(ctx, `SELECT `+therapistColumns+` FROM therapists WHERE id = $1`, id))
	if err != nil {
		return t, fmt.Errorf("load therapist %s: %w", id, notFound(err))
	}
	return t, nil
}

// Therapists lists the register, oldest entry first, retired therapists
// included.
func (db *DB) Therapists(ctx context.Context) ([]referral.Therapist, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+therapistColumns+` FROM therapists ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list therapists: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Therapist, error) { return scanTherapist(row) })
	if err != nil {
		return nil, fmt.Errorf("list therapists: %w", err)
	}
	return out, nil
}

// Areas lists the committee's list of areas, by name.
func (db *DB) Areas(ctx context.Context) ([]referral.Area, error) {
	rows, err := db.pool.Query(ctx, `SELECT code, name, active, created_at FROM areas ORDER BY name, code`)
	if err != nil {
		return nil, fmt.Errorf("list areas: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[referral.Area])
}

// SaveArea adds an area to the list or changes its name or whether it is
// active, and records the change in the register's history.
func (db *DB) SaveArea(ctx context.Context, actor referral.Principal, a referral.Area) (referral.Area, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var before map[string]any
		var name string
		var active bool
		err := tx.QueryRow(ctx, `SELECT name, active FROM areas WHERE code = $1 FOR UPDATE`, a.Code).Scan(&name, &active)
		switch {
		case err == nil:
			before = map[string]any{"name": name, "active": active}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO areas (code, name, active) VALUES ($1, $2, $3)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, active = excluded.active
			RETURNING created_at`, a.Code, a.Name, a.Active).Scan(&a.CreatedAt); err != nil {
			return err
		}
		action := "changed"
		if before == nil {
			action = "added"
		}
		return recordChange(ctx, tx, actor, "area", a.Code, action, before, map[string]any{"name": a.Name, "active": a.Active})
	})
	if err != nil {
		return a, fmt.Errorf("store area %s: %w", a.Code, err)
	}
	return a, nil
}

// recordChange appends one change to the register's history: the fields
// whose value differs between before and after (every field of after, for
// an entry just added). A change that changed nothing is not recorded.
func recordChange(ctx context.Context, tx pgx.Tx, actor referral.Principal, entity, id, action string, before, after map[string]any) error {
	changes := map[string]referral.FieldChange{}
	for k, to := range after {
		from, had := before[k]
		if had && reflect.DeepEqual(from, to) {
			continue
		}
		changes[k] = referral.FieldChange{From: from, To: to}
	}
	if len(changes) == 0 && before != nil {
		return nil
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("encode register change: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO register_changes (actor_role, actor_id, entity, entity_id, action, changes) VALUES ($1, $2, $3, $4, $5, $6)`,
		string(actor.Role), actor.Subject, entity, id, action, b); err != nil {
		return fmt.Errorf("record register change: %w", err)
	}
	return nil
}

// RegisterHistory lists changes to the register, newest first: all of
// them, or one entry's when entity and id are given. before pages back: 0
// for the newest, else the ID of the last change seen.
func (db *DB) RegisterHistory(ctx context.Context, entity, id string, before int64, limit int) ([]referral.RegisterChange, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, at, actor_role, actor_id, entity, entity_id, action, changes FROM register_changes
		WHERE ($1 = '' OR (entity = $1 AND entity_id = $2)) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, entity, id, before, limit)
	if err != nil {
		return nil, fmt.Errorf("register history: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.RegisterChange, error) {
		var c referral.RegisterChange
		var role string
		var changes []byte
		err := row.Scan(&c.ID, &c.At, &role, &c.Actor.Subject, &c.Entity, &c.EntityID, &c.Action, &changes)
		c.Actor.Role = referral.Role(role)
		if err == nil {
			err = json.Unmarshal(changes, &c.Changes)
		}
		return c, err
	})
}
