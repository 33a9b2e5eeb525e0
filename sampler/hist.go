package sampler

// LatencyBuckets are the upper bounds, in seconds, of the handshake and
// response latency histograms: 100 µs (a LAN round trip) to 10 s (a
// request that hangs, or SYNs retransmitted for seconds).
var LatencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

var bucketNS = func() (b [len(LatencyBuckets)]int64) {
	for i, s := range LatencyBuckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// Histogram counts latencies into LatencyBuckets. Buckets are not
// cumulative; observations above the last bound are only in Count.
type Histogram struct {
	Buckets [len(LatencyBuckets)]uint64
	Count   uint64
	Sum     float64 // seconds
}

// Observe adds a latency in nanoseconds; a negative one (a clock that went
// backwards) counts as 0.
func (h *Histogram) Observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.Count++
	h.Sum += float64(ns) / 1e9
	for i, b := range bucketNS {
		if ns <= b {
			h.Buckets[i]++
			return
		}
	}
}

// Cumulative returns the count at or below each bound, the form
// Prometheus histograms take.
func (h *Histogram) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(LatencyBuckets))
	var n uint64
	for i, b := range LatencyBuckets {
		n += h.Buckets[i]
		out[b] = n
	}
	return out
}

// add merges o into h.
func (h *Histogram) add(o *Histogram) {
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Count += o.Count
	h.Sum += o.Sum
}
