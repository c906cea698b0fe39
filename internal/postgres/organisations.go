package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// Organisations lists the employer register, by code.
func (db *DB) Organisations(ctx context.Context) ([]referral.Organisation, error) {
	rows, err := db.pool.Query(ctx, `SELECT code, name, kind, active, created_at FROM organisations ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[referral.Organisation])
}

func organisationFields(o referral.Organisation) map[string]any {
	return map[string]any{"name": o.Name, "kind": o.Kind, "active": o.Active}
}

// SaveOrganisation adds an employer to the register or changes its name,
// kind and whether it is listed, and records who did it, and what changed,
// in the register's history.
func (db *DB) SaveOrganisation(ctx context.Context, actor referral.Principal, o referral.Organisation) (referral.Organisation, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var before map[string]any
		var was referral.Organisation
		err := tx.QueryRow(ctx, `SELECT name, kind, active FROM organisations WHERE code = $1 FOR UPDATE`, o.Code).Scan(&was.Name, &was.Kind, &was.Active)
		switch {
		case err == nil:
			before = organisationFields(was)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO organisations (code, name, kind, active) VALUES ($1, $2, $3, $4)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, active = excluded.active
			RETURNING created_at`, o.Code, o.Name, o.Kind, o.Active).Scan(&o.CreatedAt); err != nil {
			return err
		}
		action := "changed"
		if before == nil {
			action = "added"
		}
		return recordChange(ctx, tx, actor, "organisation", o.Code, action, before, organisationFields(o))
	})
	if err != nil {
		return o, fmt.Errorf("store organisation %s: %w", o.Code, err)
	}
	return o, nil
}
