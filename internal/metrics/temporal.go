package metrics

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TimerBuckets are the histogram buckets, in seconds, of the Temporal SDK's
// timers: from a millisecond for task processing to ten minutes for
// schedule-to-start latencies when workers fall behind.
var TimerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewTemporalHandler returns a Temporal SDK metrics handler (for
// client.Options.MetricsHandler) that records into reg: counters as
// counters, gauges as gauges and timers as histograms in seconds, under the
// SDK's own names (temporal_request, temporal_workflow_task_execution_latency,
// ...) and tags, as the SDK's tally and Prometheus setup names them.
//
// It stands in for go.temporal.io/sdk/contrib/tally with tally's Prometheus
// reporter: one small adapter over client_golang, no reporting loop, and the
// same registry as the rest of the process. The SDK tags one metric name with
// different sets of tags at different places; each set is its own series.
func NewTemporalHandler(reg prometheus.Registerer) client.MetricsHandler {
	c := &sdkCollector{kinds: map[string]kind{}, series: map[string]*series{}}
	reg.MustRegister(c)
	return sdkHandler{c: c}
}

type kind int

const (
	counterKind kind = iota + 1
	gaugeKind
	timerKind
)

// sdkCollector is an unchecked collector: the SDK's metrics are not known
// in advance, so it describes none and reports the series seen so far.
type sdkCollector struct {
	mu     sync.Mutex
	kinds  map[string]kind    // metric name → the kind it was first used as
	series map[string]*series // metric name and tags → series
}

type series struct {
	kind        kind
	desc        *prometheus.Desc
	labelValues []string

	count atomic.Int64  // counter
	gauge atomic.Uint64 // gauge, math.Float64bits

	mu      sync.Mutex // timer
	buckets []uint64   // per bucket, not cumulative
	sum     float64
	n       uint64
}

func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	all := make([]*series, 0, len(c.series))
	for _, s := range c.series {
		all = append(all, s)
	}
	c.mu.Unlock()
	for _, s := range all {
		var m prometheus.Metric
		var err error
		switch s.kind {
		case counterKind:
			m, err = prometheus.NewConstMetric(s.desc, prometheus.CounterValue, float64(s.count.Load()), s.labelValues...)
		case gaugeKind:
			m, err = prometheus.NewConstMetric(s.desc, prometheus.GaugeValue, math.Float64frombits(s.gauge.Load()), s.labelValues...)
		case timerKind:
			s.mu.Lock()
			cumulative := make(map[float64]uint64, len(TimerBuckets))
			var acc uint64
			for i, b := range TimerBuckets {
				acc += s.buckets[i]
				cumulative[b] = acc
			}
			n, sum := s.n, s.sum
			s.mu.Unlock()
			m, err = prometheus.NewConstHistogram(s.desc, n, sum, cumulative, s.labelValues...)
		}
		if err != nil {
			m = prometheus.NewInvalidMetric(s.desc, err)
		}
		ch <- m
	}
}

// get returns the series of name with tags, creating it on first use, or nil
// when name was first used as another kind.
func (c *sdkCollector) get(name string, k kind, tags map[string]string) *series {
	name = promName(name)
	keys := make([]string, 0, len(tags))
	for key := range tags {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var id strings.Builder
	id.WriteString(name)
	for _, key := range keys {
		id.WriteString("\xff" + key + "\xfe" + tags[key])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[id.String()]; ok {
		return s
	}
	if have, ok := c.kinds[name]; ok && have != k {
		return nil
	}
	c.kinds[name] = k
	labels, values := make([]string, len(keys)), make([]string, len(keys))
	for i, key := range keys {
		labels[i], values[i] = promName(key), tags[key]
	}
	sorted := slices.Clone(labels)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(labels) {
		return nil // two tags that differ only in characters Prometheus refuses
	}
	s := &series{kind: k, labelValues: values,
		desc: prometheus.NewDesc(name, "Temporal SDK metric "+name+".", labels, nil)}
	if k == timerKind {
		s.buckets = make([]uint64, len(TimerBuckets))
	}
	c.series[id.String()] = s
	return s
}

// promName replaces what Prometheus does not allow in a metric or label
// name with underscores.
func promName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		ok := ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || i > 0 && ch >= '0' && ch <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{c: h.c, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	s := h.c.get(name, counterKind, h.tags)
	return counterFunc(func(d int64) {
		if s != nil && d > 0 {
			s.count.Add(d)
		}
	})
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.get(name, gaugeKind, h.tags)
	return gaugeFunc(func(v float64) {
		if s != nil {
			s.gauge.Store(math.Float64bits(v))
		}
	})
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	s := h.c.get(name, timerKind, h.tags)
	return timerFunc(func(d time.Duration) {
		if s == nil {
			return
		}
		v := d.Seconds()
		i := sort.SearchFloat64s(TimerBuckets, v) // first bucket with bound >= v
		s.mu.Lock()
		if i < len(s.buckets) {
			s.buckets[i]++
		}
		s.sum += v
		s.n++
		s.mu.Unlock()
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
