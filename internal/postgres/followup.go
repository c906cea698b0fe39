package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// InviteOutcome is what became of a follow-up invitation.
type InviteOutcome string

const (
	// InviteSent: the invitation is written (now or by an earlier try).
	InviteSent InviteOutcome = "sent"
	// InviteNotNeeded: a reminder of an invitation already answered.
	InviteNotNeeded InviteOutcome = "not-needed"
	// InviteStopped: the referral was erased or its former client asked
	// for no more follow-ups; none will be sent again.
	InviteStopped InviteOutcome = "stopped"
)

// FollowUpLetter is the email of an invitation, to the former client at
// email, with the single-use secret of its link.
type FollowUpLetter func(name, email, secret string) (Message, error)

// Invite writes the nth invitation of kind (referral.FollowUp*) to an ended
// referral's former client: a new single-use link, valid for ttl, and its
// email, in one transaction, once however often it is called. A later one
// of a kind (a reminder) replaces the earlier link, and is not needed once
// that was used. The invitation holds the programme and the quarter in
// which therapy ended, all the answer will keep.
func (db *DB) Invite(ctx context.Context, referralID, kind string, n int, ttl time.Duration, letter FollowUpLetter) (outcome InviteOutcome, ids []int64, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var name, email, programme, status string
		var erased, stopped, ended *time.Time
		if err := tx.QueryRow(ctx, `
			SELECT name, email, programme, status, erased_at, follow_ups_stopped_at, ended_at FROM referrals WHERE id = $1 FOR UPDATE`, referralID).
			Scan(&name, &email, &programme, &status, &erased, &stopped, &ended); err != nil {
			return notFound(err)
		}
		if erased != nil || stopped != nil || status != string(referral.StatusEnded) || ended == nil {
			outcome = InviteStopped
			return nil
		}
		key := fmt.Sprintf("%s/follow-up/%s/%d", referralID, kind, n)
		var written bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE dedupe_key = $1)`, key).Scan(&written); err != nil {
			return fmt.Errorf("look for the invitation: %w", err)
		}
		if written {
			outcome = InviteSent
			return nil
		}
		if n > 1 {
			tag, err := tx.Exec(ctx, `DELETE FROM follow_up_invitations WHERE referral_id = $1 AND kind = $2`, referralID, kind)
			if err != nil {
				return fmt.Errorf("replace the invitation: %w", err)
			}
			if tag.RowsAffected() == 0 { // answered (or never sent): no reminder
				outcome = InviteNotNeeded
				return nil
			}
		}
		secret := NewToken()
		if _, err := tx.Exec(ctx, `
			INSERT INTO follow_up_invitations (hash, referral_id, kind, programme, quarter, expires_at)
			VALUES ($1, $2, $3, $4, to_char($5::timestamptz AT TIME ZONE 'Europe/London', 'YYYY-"Q"Q'), now() + $6::interval)`,
			hashToken(secret), referralID, kind, programme, *ended, ttl.String()); err != nil {
			return fmt.Errorf("store the invitation: %w", err)
		}
		m, err := letter(name, email, secret)
		if err != nil {
			return err
		}
		m.Key = key
		if ids, err = insertMessages(ctx, tx, referralID, []Message{m}); err != nil {
			return err
		}
		outcome = InviteSent
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("invite %s to %s %d: %w", referralID, kind, n, err)
	}
	return outcome, ids, nil
}

// Invitation says what an unused, unexpired invitation's link asks for
// (referral.FollowUp*); referral.ErrNotFound when it was used, has
// expired, was replaced by a reminder's, or never was.
func (db *DB) Invitation(ctx context.Context, secret string) (kind string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT kind FROM follow_up_invitations WHERE hash = $1 AND expires_at > now()`, hashToken(secret)).Scan(&kind)
	if err != nil {
		return "", fmt.Errorf("follow-up invitation: %w", notFound(err))
	}
	return kind, nil
}

// spend deletes an invitation of one of kinds, returning what an answer
// keeps of it, in the transaction that stores the answer.
func spend(ctx context.Context, tx pgx.Tx, secret string, kinds ...string) (programme, quarter, kind string, err error) {
	err = tx.QueryRow(ctx, `
		DELETE FROM follow_up_invitations WHERE hash = $1 AND kind = ANY ($2) AND expires_at > now()
		RETURNING programme, quarter, kind`, hashToken(secret), kinds).Scan(&programme, &quarter, &kind)
	if err != nil {
		return "", "", "", fmt.Errorf("spend invitation: %w", notFound(err))
	}
	return programme, quarter, kind, nil
}

// GiveFeedback stores a former client's feedback with the programme and
// quarter of its invitation only, under a random key, and deletes the
// invitation: the link works once, and afterwards nothing connects the
// feedback to anyone.
func (db *DB) GiveFeedback(ctx context.Context, secret string, f referral.Feedback) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		programme, quarter, _, err := spend(ctx, tx, secret, referral.FollowUpFeedback)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO feedback (id, programme, quarter, wellbeing, work, stay, comment) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			NewID(), programme, quarter, f.Wellbeing, f.Work, f.Stay, f.Comment); err != nil {
			return fmt.Errorf("store feedback: %w", err)
		}
		return nil
	})
}

// AnswerStayed stores a former client's answer to whether they stayed, in
// the same anonymous way as GiveFeedback.
func (db *DB) AnswerStayed(ctx context.Context, secret, answer string) error {
	if !referral.ValidStayed(answer) {
		return fmt.Errorf("answer %q: %w", answer, referral.ErrConflict)
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		programme, quarter, kind, err := spend(ctx, tx, secret, referral.FollowUpStayed6, referral.FollowUpStayed12)
		if err != nil {
			return err
		}
		months := 6
		if kind == referral.FollowUpStayed12 {
			months = 12
		}
		if _, err := tx.Exec(ctx, `INSERT INTO stayed_answers (id, programme, quarter, months, answer) VALUES ($1, $2, $3, $4, $5)`,
			NewID(), programme, quarter, months, answer); err != nil {
			return fmt.Errorf("store answer: %w", err)
		}
		return nil
	})
}

// StopFollowUps records that the former client of an invitation's link
// wants no more follow-ups, and deletes every link they hold. It returns
// the referral, so its follow-ups can be cancelled; a link used or
// expired stops nothing (referral.ErrNotFound).
func (db *DB) StopFollowUps(ctx context.Context, secret string) (referralID string, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT referral_id::text FROM follow_up_invitations WHERE hash = $1 AND expires_at > now()`, hashToken(secret)).Scan(&referralID)
		if err != nil {
			return notFound(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE referrals SET follow_ups_stopped_at = now() WHERE id = $1 AND follow_ups_stopped_at IS NULL`, referralID); err != nil {
			return fmt.Errorf("stop follow-ups: %w", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM follow_up_invitations WHERE referral_id = $1`, referralID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("stop follow-ups: %w", err)
	}
	return referralID, nil
}

// FeedbackComments lists the comments of the feedback of former clients
// whose therapy ended in the quarters q, in alphabetical order, so that the
// order tells nothing of when, or from whom, each came.
func (db *DB) FeedbackComments(ctx context.Context, q referral.Quarters) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT comment FROM feedback WHERE comment <> '' AND quarter BETWEEN $1 AND $2 ORDER BY comment`, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("feedback comments: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("feedback comments: %w", err)
	}
	return out, nil
}

// FeedbackSummary counts what former clients whose therapy ended in the
// quarters q said: no figure about fewer than referral.MinCell people, and
// no suppressed figure that a row's total would give away.
func (db *DB) FeedbackSummary(ctx context.Context, q referral.Quarters) (referral.FeedbackSummary, error) {
	sum := referral.FeedbackSummary{Quarters: q}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var given int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM feedback WHERE quarter BETWEEN $1 AND $2`, q.From, q.To).Scan(&given); err != nil {
			return err
		}
		sum.Given = referral.CountCell(given)
		for _, question := range []string{"wellbeing", "work", "stay"} {
			counts := make([]int64, 5)
			rows, err := tx.Query(ctx, `SELECT `+question+`, count(*) FROM feedback WHERE quarter BETWEEN $1 AND $2 AND `+question+` IS NOT NULL GROUP BY 1`, q.From, q.To)
			if err != nil {
				return err
			}
			var v int
			var n int64
			if _, err := pgx.ForEachRow(rows, []any{&v, &n}, func() error { counts[v-1] = n; return nil }); err != nil {
				return err
			}
			cells, total := referral.SuppressRow(counts)
			sum.Questions = append(sum.Questions, referral.ScaleSummary{Question: question, Answers: cells, Answered: total})
		}
		for _, months := range []int{6, 12} {
			counts := make([]int64, len(referral.StayedAnswers))
			rows, err := tx.Query(ctx, `SELECT answer, count(*) FROM stayed_answers WHERE quarter BETWEEN $1 AND $2 AND months = $3 GROUP BY 1`, q.From, q.To, months)
			if err != nil {
				return err
			}
			var a string
			var n int64
			if _, err := pgx.ForEachRow(rows, []any{&a, &n}, func() error {
				counts[slices.Index(referral.StayedAnswers, a)] = n
				return nil
			}); err != nil {
				return err
			}
			cells, total := referral.SuppressRow(counts)
			sum.Stayed = append(sum.Stayed, referral.StayedSummary{Months: months, Answers: cells, Answered: total})
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("feedback summary %s to %s: %w", q.From, q.To, err)
	}
	return sum, nil
}
