package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wmtna/referrals/internal/postgres"
)

// StatsSource reads the pipeline's figures; *postgres.DB is one.
type StatsSource interface {
	Stats(ctx context.Context) (postgres.Stats, error)
}

// Domain reports the pipeline's figures, read from PostgreSQL at each
// scrape: referrals by status, the waitlist's length and oldest wait, and
// therapists' free places. Register it in one process only (the API), since
// every process would report the same figures.
type Domain struct {
	src                                          StatsSource
	timeout                                      time.Duration
	byStatus, waiting, oldest, freeSlots, emails *prometheus.Desc
}

// NewDomain returns the collector of the pipeline's figures.
func NewDomain(src StatsSource) *Domain {
	return &Domain{
		src:     src,
		timeout: 5 * time.Second,
		byStatus: prometheus.NewDesc("wmtna_referrals", "Referrals by current status.",
			[]string{"status"}, nil),
		waiting: prometheus.NewDesc("wmtna_waitlist_length", "Approved referrals waiting in the queue for a free place.",
			nil, nil),
		oldest: prometheus.NewDesc("wmtna_waitlist_oldest_wait_seconds",
			"How long the longest-waiting referral has waited in the queue, since its approval; 0 when nobody waits.", nil, nil),
		freeSlots: prometheus.NewDesc("wmtna_therapist_free_places", "Free places of active therapists (capacity minus places used).",
			nil, nil),
		emails: prometheus.NewDesc("wmtna_emails", "Outbox messages by delivery state: pending, sent, uncertain (a crash came between the "+
			"SMTP server taking it and our record; not sent again), failed.", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (d *Domain) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.byStatus
	ch <- d.waiting
	ch <- d.oldest
	ch <- d.freeSlots
	ch <- d.emails
}

// Collect implements prometheus.Collector: it queries PostgreSQL.
func (d *Domain) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	st, err := d.src.Stats(ctx)
	if err != nil {
		for _, desc := range []*prometheus.Desc{d.byStatus, d.waiting, d.oldest, d.freeSlots, d.emails} {
			ch <- prometheus.NewInvalidMetric(desc, err)
		}
		return
	}
	for status, n := range st.ByStatus {
		ch <- prometheus.MustNewConstMetric(d.byStatus, prometheus.GaugeValue, float64(n), string(status))
	}
	ch <- prometheus.MustNewConstMetric(d.waiting, prometheus.GaugeValue, float64(st.Waiting))
	ch <- prometheus.MustNewConstMetric(d.oldest, prometheus.GaugeValue, st.OldestWait.Seconds())
	ch <- prometheus.MustNewConstMetric(d.freeSlots, prometheus.GaugeValue, float64(st.FreePlaces))
	for state, n := range st.Emails {
		ch <- prometheus.MustNewConstMetric(d.emails, prometheus.GaugeValue, float64(n), state)
	}
}
