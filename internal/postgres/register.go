package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

const therapistColumns = `id, name, email, hcpc_number, capacity, places_used, active, remote, locations,
	conflict_programmes, conflict_employers, created_at`

func scanTherapist(row pgx.Row) (referral.Therapist, error) {
	var t referral.Therapist
	err := row.Scan(&t.ID, &t.Name, &t.Email, &t.HCPCNumber, &t.Capacity, &t.PlacesUsed, &t.Active, &t.Remote,
		&t.Locations, &t.Conflicts.Programmes, &t.Conflicts.Employers, &t.CreatedAt)
	return t, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateTherapist adds a therapist to the register and offers their places
// to the queue at once. A second therapist with the same HCPC number is
// referral.ErrDuplicate.
func (db *DB) CreateTherapist(ctx context.Context, t referral.Therapist) (referral.Therapist, error) {
	t.ID = NewID()
	var out referral.Therapist
	err := db.allocate(ctx, func(tx pgx.Tx) error {
		var err error
		// ON CONFLICT DO NOTHING: a unique violation would put the HCPC
		// number in PostgreSQL's log (its DETAIL).
		out, err = scanTherapist(tx.QueryRow(ctx, `
			INSERT INTO therapists (id, name, email, email_key, hcpc_number, capacity, active, remote, locations, conflict_programmes, conflict_employers)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (hcpc_number) DO NOTHING RETURNING `+therapistColumns,
			t.ID, t.Name, t.Email, referral.EmailKey(t.Email), t.HCPCNumber, t.Capacity, t.Active, t.Remote, orEmpty(t.Locations),
			orEmpty(t.Conflicts.Programmes), orEmpty(t.Conflicts.Employers)))
		if errors.Is(err, pgx.ErrNoRows) {
			return referral.ErrDuplicate
		}
		if err != nil {
			return err
		}
		return fillPlaces(ctx, tx, t.ID)
	})
	if errors.Is(err, referral.ErrDuplicate) {
		return out, fmt.Errorf("a therapist with that HCPC number is registered: %w", referral.ErrDuplicate)
	}
	if err != nil {
		return out, fmt.Errorf("create therapist: %w", err)
	}
	return db.Therapist(ctx, t.ID)
}

// UpdateTherapist applies a patch. Lowering capacity below the places in
// use is referral.ErrConflict: clients already offered or matched keep them.
// It runs under the allocation lock so it cannot race an offer.
func (db *DB) UpdateTherapist(ctx context.Context, id string, p referral.TherapistPatch) (referral.Therapist, error) {
	var out referral.Therapist
	err := db.allocate(ctx, func(tx pgx.Tx) error {
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
		if p.Capacity != nil {
			add("capacity", *p.Capacity)
		}
		if p.Active != nil {
			add("active", *p.Active)
		}
		if p.Remote != nil {
			add("remote", *p.Remote)
		}
		if p.Locations != nil {
			add("locations", orEmpty(*p.Locations))
		}
		if p.Conflicts != nil {
			add("conflict_programmes", orEmpty(p.Conflicts.Programmes))
			add("conflict_employers", orEmpty(p.Conflicts.Employers))
		}
		var err error
		out, err = scanTherapist(tx.QueryRow(ctx, `UPDATE therapists SET `+strings.Join(sets, ", ")+` WHERE id = $1 RETURNING `+therapistColumns, args...))
		if checkViolation(err, "places_within_capacity") {
			return fmt.Errorf("capacity %d is below the places in use: %w", *p.Capacity, referral.ErrConflict)
		}
		if err != nil {
			return notFound(err)
		}
		return fillPlaces(ctx, tx, id)
	})
	if err != nil {
		return out, fmt.Errorf("update therapist %s: %w", id, err)
	}
	return db.Therapist(ctx, id)
}

// Therapist loads one therapist.
func (db *DB) Therapist(ctx context.Context, id string) (referral.Therapist, error) {
	t, err := scanTherapist(db.pool.QueryRow(ctx, `SELECT `+therapistColumns+` FROM therapists WHERE id = $1`, id))
	if err != nil {
		return t, fmt.Errorf("load therapist %s: %w", id, notFound(err))
	}
	return t, nil
}

// Therapists lists the register, oldest entry first.
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

// CreateCommitteeMember adds a committee member.
func (db *DB) CreateCommitteeMember(ctx context.Context, m referral.CommitteeMember) (referral.CommitteeMember, error) {
	m.ID = NewID()
	err := db.pool.QueryRow(ctx, `INSERT INTO committee_members (id, name, email, email_key, role) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		m.ID, m.Name, m.Email, referral.EmailKey(m.Email), m.Role).Scan(&m.CreatedAt)
	if err != nil {
		return m, fmt.Errorf("create committee member: %w", err)
	}
	return m, nil
}

// CommitteeMembers lists the committee, for messages and the API.
func (db *DB) CommitteeMembers(ctx context.Context) ([]referral.CommitteeMember, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, email, role, created_at FROM committee_members ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list committee members: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[referral.CommitteeMember])
}

// Organisations lists the employer register.
func (db *DB) Organisations(ctx context.Context) ([]referral.Organisation, error) {
	rows, err := db.pool.Query(ctx, `SELECT code, name, kind, active, created_at FROM organisations ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[referral.Organisation])
}

// UpsertOrganisation adds an organisation or updates its name, kind and
// whether it is active.
func (db *DB) UpsertOrganisation(ctx context.Context, o referral.Organisation) (referral.Organisation, error) {
	err := db.pool.QueryRow(ctx, `
		INSERT INTO organisations (code, name, kind, active) VALUES ($1, $2, $3, $4)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, active = excluded.active
		RETURNING created_at`, o.Code, o.Name, o.Kind, o.Active).Scan(&o.CreatedAt)
	if err != nil {
		return o, fmt.Errorf("store organisation %s: %w", o.Code, err)
	}
	return o, nil
}

// CommitteeMemberExists is nil when the committee member exists, and
// referral.ErrNotFound otherwise.
func (db *DB) CommitteeMemberExists(ctx context.Context, id string) error {
	var one int
	if err := db.pool.QueryRow(ctx, `SELECT 1 FROM committee_members WHERE id = $1`, id).Scan(&one); err != nil {
		return fmt.Errorf("load committee member %s: %w", id, notFound(err))
	}
	return nil
}
