package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Refusals of a change to the committee, each a referral.ErrConflict.
var (
	// ErrLastChair refuses removing or demoting the only Chair left: the
	// committee would be left with nobody who can keep it.
	ErrLastChair = fmt.Errorf("the committee's only chair: %w", referral.ErrConflict)
	// ErrMemberRemoved refuses changing a member who has been removed.
	ErrMemberRemoved = fmt.Errorf("committee member removed: %w", referral.ErrConflict)
)

const memberColumns = `id, name, email, role, created_at, removed_at`

func scanMember(row pgx.Row) (referral.CommitteeMember, error) {
	var m referral.CommitteeMember
	err := row.Scan(&m.ID, &m.Name, &m.Email, &m.Role, &m.CreatedAt, &m.RemovedAt)
	return m, err
}

// memberFields is what the register's history compares of a member.
func memberFields(m referral.CommitteeMember) map[string]any {
	return map[string]any{"name": m.Name, "email": m.Email, "role": m.Role, "removed": m.RemovedAt != nil}
}

// changeCommittee runs one change to the committee. Every change takes the
// same table lock first, so changes run one at a time: two Chairs removing
// each other at once cannot both see another Chair left, and two requests
// cannot add the same address twice. Reading the committee (sign-in,
// notifications) does not wait for it.
func (db *DB) changeCommittee(ctx context.Context, what string, change func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE committee_members IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		return change(tx)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// CreateCommitteeMember adds a committee member, and records who added
// them. An address already held by a member (not removed) is
// referral.ErrDuplicate: sign-in finds a member by address.
func (db *DB) CreateCommitteeMember(ctx context.Context, actor referral.Principal, m referral.CommitteeMember) (referral.CommitteeMember, error) {
	m.ID = NewID()
	err := db.changeCommittee(ctx, "create committee member", func(tx pgx.Tx) error {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM committee_members WHERE email_key = $1 AND removed_at IS NULL)`,
			referral.EmailKey(m.Email)).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return referral.ErrDuplicate
		}
		out, err := scanMember(tx.QueryRow(ctx, `
			INSERT INTO committee_members (id, name, email, email_key, role) VALUES ($1, $2, $3, $4, $5) RETURNING `+memberColumns,
			m.ID, m.Name, m.Email, referral.EmailKey(m.Email), m.Role))
		if err != nil {
			return err
		}
		m = out
		return recordChange(ctx, tx, actor, "committee_member", m.ID, "added", nil, memberFields(m))
	})
	return m, err
}

// CommitteeMembers lists the committee as it is now, removed members left
// out: whom messages go to.
func (db *DB) CommitteeMembers(ctx context.Context) ([]referral.CommitteeMember, error) {
	return db.committee(ctx, `WHERE removed_at IS NULL`)
}

// CommitteeRoll lists everyone who has been on the committee, removed
// members included, oldest first.
func (db *DB) CommitteeRoll(ctx context.Context) ([]referral.CommitteeMember, error) {
	return db.committee(ctx, ``)
}

func (db *DB) committee(ctx context.Context, where string) ([]referral.CommitteeMember, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+memberColumns+` FROM committee_members `+where+` ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list committee members: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.CommitteeMember, error) { return scanMember(row) })
	if err != nil {
		return nil, fmt.Errorf("list committee members: %w", err)
	}
	return out, nil
}

// CommitteeMember loads one member, removed or not.
func (db *DB) CommitteeMember(ctx context.Context, id string) (referral.CommitteeMember, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, `SELECT `+memberColumns+` FROM committee_members WHERE id = $1`, id))
	if err != nil {
		return m, fmt.Errorf("load committee member %s: %w", id, notFound(err))
	}
	return m, nil
}

// CommitteeMemberExists is nil when the committee member exists and has not
// been removed, and referral.ErrNotFound otherwise: a removed member is
// given no new token.
func (db *DB) CommitteeMemberExists(ctx context.Context, id string) error {
	var one int
	if err := db.pool.QueryRow(ctx, `SELECT 1 FROM committee_members WHERE id = $1 AND removed_at IS NULL`, id).Scan(&one); err != nil {
		return fmt.Errorf("load committee member %s: %w", id, notFound(err))
	}
	return nil
}

// changeMember locks a member who has not been removed, runs change, and
// records what changed in the register's history under action.
func (db *DB) changeMember(ctx context.Context, actor referral.Principal, id, action string, change func(tx pgx.Tx, m referral.CommitteeMember) error) (referral.CommitteeMember, error) {
	var out referral.CommitteeMember
	err := db.changeCommittee(ctx, action+" committee member "+id, func(tx pgx.Tx) error {
		before, err := scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM committee_members WHERE id = $1`, id))
		if err != nil {
			return notFound(err)
		}
		if before.RemovedAt != nil {
			return ErrMemberRemoved
		}
		if err := change(tx, before); err != nil {
			return err
		}
		if out, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM committee_members WHERE id = $1`, id)); err != nil {
			return err
		}
		return recordChange(ctx, tx, actor, "committee_member", id, action, memberFields(before), memberFields(out))
	})
	return out, err
}

// otherChairs counts the Chairs, not removed, other than id.
func otherChairs(ctx context.Context, tx pgx.Tx, id string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM committee_members WHERE role = 'chair' AND removed_at IS NULL AND id <> $1`, id).Scan(&n)
	return n, err
}

// ChangeCommitteeRole gives a member another office. Demoting the only
// Chair is ErrLastChair; changing a removed member, ErrMemberRemoved.
func (db *DB) ChangeCommitteeRole(ctx context.Context, actor referral.Principal, id, role string) (referral.CommitteeMember, error) {
	return db.changeMember(ctx, actor, id, "changed", func(tx pgx.Tx, m referral.CommitteeMember) error {
		if m.Role == "chair" && role != "chair" {
			n, err := otherChairs(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastChair
			}
		}
		_, err := tx.Exec(ctx, `UPDATE committee_members SET role = $2 WHERE id = $1`, id, role)
		return err
	})
}

// RemoveCommitteeMember takes a member off the committee, at once and for
// good, in one transaction: they are marked removed (and kept, for the
// history), every token and browser session of theirs is revoked, and any
// sign-in link they were sent and have not used is spent. Removing the
// only Chair is ErrLastChair; removing a member twice, ErrMemberRemoved.
func (db *DB) RemoveCommitteeMember(ctx context.Context, actor referral.Principal, id string) (referral.CommitteeMember, error) {
	return db.changeMember(ctx, actor, id, "removed", func(tx pgx.Tx, m referral.CommitteeMember) error {
		if m.Role == "chair" {
			n, err := otherChairs(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastChair
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE committee_members SET removed_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		// Browser sessions are tokens too (with an expiry), so this ends
		// them as well as any bearer token.
		if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = now() WHERE role = 'committee' AND subject = $1 AND revoked_at IS NULL`, id); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sign_in_links SET expires_at = now() WHERE role = 'committee' AND subject = $1 AND used_at IS NULL AND expires_at > now()`, id); err != nil {
			return fmt.Errorf("spend sign-in links: %w", err)
		}
		return nil
	})
}
