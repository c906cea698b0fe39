package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wmtna/referrals/internal/referral"
)

// NewID returns a random UUID (version 4) for a new row.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// CreateReferral stores a new submission with status submitted, made at
// submittedAt by the service's clock: eligibility is judged on that day
// (CheckEligibility). A replay with the same idempotency key and the same
// request returns the first referral, with its own submission time, and
// created=false; the same key with a different request is
// referral.ErrConflict, and a second open referral for the same email is
// referral.ErrDuplicate.
func (db *DB) CreateReferral(ctx context.Context, s referral.Submission, submittedAt time.Time, idemKey, fingerprint string) (r referral.Referral, created bool, err error) {
	if submittedAt.IsZero() {
		return r, false, errors.New("create referral: no submission time")
	}
	var key *string
	if idemKey != "" {
		key = &idemKey
	}
	id := NewID()
	err = insertReferral(ctx, db.pool, id, s, submittedAt, key, fingerprint)
	switch {
	case err == nil:
		r, err = db.Referral(ctx, id)
		return r, true, err
	case !errors.Is(err, pgx.ErrNoRows):
		return r, false, fmt.Errorf("insert referral: %w", err)
	}
	if key != nil {
		var prevID, prevFP string
		err := db.pool.QueryRow(ctx, `SELECT id, request_fingerprint FROM referrals WHERE idempotency_key = $1`, idemKey).Scan(&prevID, &prevFP)
		switch {
		case err == nil && prevFP != fingerprint:
			return r, false, fmt.Errorf("idempotency key reused with a different request: %w", referral.ErrConflict)
		case err == nil:
			r, err = db.Referral(ctx, prevID)
			return r, false, err
		case !errors.Is(err, pgx.ErrNoRows):
			return r, false, fmt.Errorf("load referral by idempotency key: %w", err)
		}
	}
	// The only other unique index is one open referral per address.
	return r, false, referral.ErrDuplicate
}

// queryRower is a pool or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertReferral stores a new referral with status submitted, or nothing
// (pgx.ErrNoRows) when a unique index refuses it: a second open referral
// for the address, or an idempotency key used before. ON CONFLICT DO
// NOTHING, because a unique violation would make PostgreSQL log its
// DETAIL, which names the colliding key (the trainee's address, the
// client's idempotency key), in a log that erasure cannot reach.
func insertReferral(ctx context.Context, q queryRower, id string, s referral.Submission, submittedAt time.Time, idemKey *string, fingerprint string) error {
	return q.QueryRow(ctx, `
		INSERT INTO referrals (id, name, email, email_key, programme, employer, training_start,
			expected_qualification, concerns, pref_meeting, pref_areas, pref_same_discipline, pref_note,
			idempotency_key, request_fingerprint, at_risk, submitted_at, employer_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT DO NOTHING RETURNING id`,
		id, s.Name, s.Email, referral.EmailKey(s.Email), s.Programme, s.Employer, pgDate(&s.TrainingStart),
		pgDate(s.ExpectedQualification), s.Concerns, meetingOf(s.Preferences), orEmpty(s.Preferences.Areas),
		s.Preferences.SameDiscipline, s.Preferences.Note, idemKey, fingerprint, s.AtRisk, submittedAt, s.EmployerName).Scan(&id)
}

// meetingOf is how the trainee can meet, "either" when they did not say.
func meetingOf(p referral.Preferences) string {
	if p.Meeting == "" {
		return string(referral.MeetEither)
	}
	return string(p.Meeting)
}

const referralColumns = `id, name, email, programme, employer, training_start, expected_qualification, concerns,
	pref_meeting, pref_areas, pref_same_discipline, pref_note, status, eligible, eligibility_reason, cutoff, submitted_at, updated_at, at_risk, employer_name`

func scanReferral(row pgx.Row) (referral.Referral, error) {
	var r referral.Referral
	var start time.Time
	var expected, cutoff *time.Time
	var status string
	err := row.Scan(&r.ID, &r.Name, &r.Email, &r.Programme, &r.Employer, &start, &expected, &r.Concerns,
		&r.Preferences.Meeting, &r.Preferences.Areas, &r.Preferences.SameDiscipline, &r.Preferences.Note, &status, &r.Eligible, &r.EligibilityReason, &cutoff,
		&r.SubmittedAt, &r.UpdatedAt, &r.AtRisk, &r.EmployerName)
	if err != nil {
		return r, err
	}
	r.TrainingStart = *dateOf(&start)
	r.ExpectedQualification = dateOf(expected)
	r.Cutoff = dateOf(cutoff)
	r.Status = referral.Status(status)
	return r, nil
}

// Referral loads one referral.
func (db *DB) Referral(ctx context.Context, id string) (referral.Referral, error) {
	r, err := scanReferral(db.pool.QueryRow(ctx, `SELECT `+referralColumns+` FROM referrals WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("load referral %s: %w", id, notFound(err))
	}
	return r, nil
}

// ListFilter selects a page of referrals, newest first. Before is the
// cursor: the (submitted_at, id) of the last referral of the previous page.
type ListFilter struct {
	Status referral.Status
	// Closed keeps only finished referrals (referral.Status.Terminal).
	Closed     bool
	Limit      int
	BeforeTime time.Time
	BeforeID   string
	HasCursor  bool
}

// ListReferrals returns a page of referrals, newest first.
func (db *DB) ListReferrals(ctx context.Context, f ListFilter) ([]referral.Referral, error) {
	args := []any{f.Limit}
	where := []string{"true"}
	if f.Status != "" {
		args = append(args, string(f.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.Closed {
		where = append(where, "status IN "+terminalStatuses)
	}
	if f.HasCursor {
		args = append(args, f.BeforeTime, f.BeforeID)
		where = append(where, fmt.Sprintf("(submitted_at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+referralColumns+` FROM referrals WHERE `+strings.Join(where, " AND ")+
		` ORDER BY submitted_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list referrals: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Referral, error) { return scanReferral(row) })
	if err != nil {
		return nil, fmt.Errorf("list referrals: %w", err)
	}
	return out, nil
}

// Events returns a referral's recorded transitions in order, with the text
// of any note attached to them.
func (db *DB) Events(ctx context.Context, referralID string) ([]referral.Event, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT e.seq, e.at, e.actor, e.from_status, e.to_status, e.reason, coalesce(n.body, '')
		FROM referral_events e LEFT JOIN referral_notes n ON n.id = e.note_id
		WHERE e.referral_id = $1 ORDER BY e.seq`, referralID)
	if err != nil {
		return nil, fmt.Errorf("load events of %s: %w", referralID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (referral.Event, error) {
		var e referral.Event
		var from, to string
		err := row.Scan(&e.Seq, &e.At, &e.Actor, &from, &to, &e.Reason, &e.Note)
		e.From, e.To = referral.Status(from), referral.Status(to)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("load events of %s: %w", referralID, err)
	}
	return out, nil
}

// AddNote stores free text about a referral (a decision's reason) and
// returns its id, which is all the workflow ever sees of it. An erased
// referral takes no more notes: referral.ErrConflict.
func (db *DB) AddNote(ctx context.Context, referralID, author, body string) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `
		INSERT INTO referral_notes (referral_id, author, body)
		SELECT id, $2, $3 FROM referrals WHERE id = $1 AND erased_at IS NULL
		RETURNING id`, referralID, author, body).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("add note to %s: the referral is erased or unknown: %w", referralID, referral.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("add note to %s: %w", referralID, err)
	}
	return id, nil
}

// DiscardNote deletes a note whose decision was refused, unless a recorded
// transition names it. Discarding twice is harmless.
func (db *DB) DiscardNote(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, `
		DELETE FROM referral_notes n WHERE n.id = $1
		AND NOT EXISTS (SELECT 1 FROM referral_events e WHERE e.note_id = n.id)`, id); err != nil {
		return fmt.Errorf("discard note %d: %w", id, err)
	}
	return nil
}

// CheckEligibility decides a referral's eligibility from the register and
// the rules, and stores the outcome. The cut-off is compared with the day
// the referral was submitted (submitted_at, stamped by the service's clock),
// not the day of the check: deciding twice gives the same answer, so a
// retried activity is harmless.
func (db *DB) CheckEligibility(ctx context.Context, referralID string) (referral.Eligibility, error) {
	r, err := db.Referral(ctx, referralID)
	if err != nil {
		return referral.Eligibility{}, err
	}
	// A service the trainee named because it is not on the register
	// passes this rule: the committee checks it before approving, and
	// declines with ineligible-employer if it is not an NHS or
	// NHS-contracted service in the West Midlands.
	registered := r.EmployerName != ""
	if !registered {
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organisations WHERE code = $1 AND active)`, r.Employer).Scan(&registered); err != nil {
			return referral.Eligibility{}, fmt.Errorf("look up employer of %s: %w", referralID, err)
		}
	}
	e := referral.CheckEligibility(referral.DateOf(r.SubmittedAt), r.Programme, registered, r.TrainingStart, r.ExpectedQualification)
	cutoff, _ := referral.ParseDate(e.Cutoff)
	if _, err := db.pool.Exec(ctx, `UPDATE referrals SET eligible = $2, eligibility_reason = $3, cutoff = $4, updated_at = now() WHERE id = $1`,
		referralID, e.Eligible, e.Reason, pgDate(&cutoff)); err != nil {
		return e, fmt.Errorf("store eligibility of %s: %w", referralID, err)
	}
	return e, nil
}

// Message is one notification to write to the outbox.
type Message struct {
	Key       string // unique per lifecycle event and recipient
	Recipient string
	Kind      string
	Subject   string
	Body      string
}

// RecordTransition appends the event, moves the referral's status and
// writes the messages, all or nothing. A transition already recorded (same
// referral and seq) is left alone and reported with recorded=false, even if
// the retry computed other messages.
//
// It is one statement, so one round trip and its own transaction:
// transitions are the pipeline's most frequent write.
func (db *DB) RecordTransition(ctx context.Context, t referral.Transition, messages []Message) (recorded bool, outboxIDs []int64, err error) {
	var noteID *int64
	if t.NoteID != 0 {
		noteID = &t.NoteID
	}
	var offerID *string
	var offerExpires *time.Time
	if t.To == referral.StatusOffered && !t.OfferExpiresAt.IsZero() {
		offerID, offerExpires = &t.OfferID, &t.OfferExpiresAt
	}
	keys, recipients, kinds, subjects, bodies := make([]string, len(messages)), make([]string, len(messages)),
		make([]string, len(messages)), make([]string, len(messages)), make([]string, len(messages))
	for i, m := range messages {
		keys[i], recipients[i], kinds[i], subjects[i], bodies[i] = m.Key, m.Recipient, m.Kind, m.Subject, m.Body
	}
	// Everything after the event is gated on the event: a replayed seq
	// inserts no event, and then nothing else changes.
	err = db.pool.QueryRow(ctx, `
		WITH ev AS (
			INSERT INTO referral_events (referral_id, seq, at, actor, from_status, to_status, reason, note_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (referral_id, seq) DO NOTHING
			RETURNING 1
		), moved AS (
			UPDATE referrals SET status = $6, last_seq = $2, updated_at = now()
			WHERE id = $1 AND last_seq < $2 AND EXISTS (SELECT FROM ev)
		), offer AS (
			UPDATE offers SET expires_at = $10 WHERE id = $9 AND EXISTS (SELECT FROM ev)
		), written AS (
			INSERT INTO outbox (dedupe_key, referral_id, recipient, kind, subject, body)
			SELECT m.key, $1, m.recipient, m.kind, m.subject, m.body
			FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) WITH ORDINALITY AS m(key, recipient, kind, subject, body, n)
			WHERE EXISTS (SELECT FROM ev)
			ORDER BY m.n
			ON CONFLICT (dedupe_key) DO NOTHING
			RETURNING id
		)
		SELECT EXISTS (SELECT FROM ev), coalesce((SELECT array_agg(id ORDER BY id) FROM written), '{}')`,
		t.ReferralID, t.Seq, t.At, t.Actor.String(), string(t.From), string(t.To), t.Reason, noteID,
		offerID, offerExpires, keys, recipients, kinds, subjects, bodies).Scan(&recorded, &outboxIDs)
	if err != nil {
		return false, nil, fmt.Errorf("record transition %d of %s: %w", t.Seq, t.ReferralID, err)
	}
	if len(outboxIDs) == 0 {
		outboxIDs = nil
	}
	return recorded, outboxIDs, nil
}

// WriteMessages writes messages that belong to no transition (reminders),
// each once however often it is called.
func (db *DB) WriteMessages(ctx context.Context, referralID string, messages []Message) ([]int64, error) {
	var ids []int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		ids, err = insertMessages(ctx, tx, referralID, messages)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write messages for %s: %w", referralID, err)
	}
	return ids, nil
}

func insertMessages(ctx context.Context, tx pgx.Tx, referralID string, messages []Message) ([]int64, error) {
	var ids []int64
	for _, m := range messages {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO outbox (dedupe_key, referral_id, recipient, kind, subject, body)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
			m.Key, referralID, m.Recipient, m.Kind, m.Subject, m.Body).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write message %s: %w", m.Key, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// OutboxMessage is a message as stored, for tests and the later delivery stage.
type OutboxMessage struct {
	ID         int64
	Key        string
	ReferralID string
	Recipient  string
	Kind       string
	Subject    string
	Body       string
}

// Outbox returns every message written about a referral, oldest first.
func (db *DB) Outbox(ctx context.Context, referralID string) ([]OutboxMessage, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, dedupe_key, referral_id::text, recipient, kind, subject, body FROM outbox WHERE referral_id = $1 ORDER BY id`, referralID)
	if err != nil {
		return nil, fmt.Errorf("load outbox of %s: %w", referralID, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[OutboxMessage])
}

// StuckSubmissions lists referrals submitted before the given time and
// still in status submitted, oldest first: their workflow may never have
// started (the API answered 503 and the trainee gave up), so the API starts
// it again. submitted_at is the service's clock, so before is too: the
// caller's now less a grace period.
func (db *DB) StuckSubmissions(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text FROM referrals WHERE status = 'submitted' AND last_seq = 0 AND submitted_at < $1 ORDER BY submitted_at LIMIT $2`,
		before, limit)
	if err != nil {
		return nil, fmt.Errorf("stuck submissions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
