package main

import (
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets, like HDR Histogram:
// exact below 256 ns, then 128 buckets per power of two, so a bucket's
// width is under 1% of its values. Recording is an index computation and
// an increment, with no allocation; a histogram is about 36 KB.
type histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max time.Duration
}

const (
	subBits    = 7            // 2^7 = 128 buckets per power of two
	linear     = 2 << subBits // values below 256 ns have a bucket each
	maxBits    = 41           // 2^41 ns is about 36 minutes
	numBuckets = (maxBits-subBits)<<subBits + linear
)

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.counts[bucketOf(uint64(d))]++
}

// bucketOf maps v to its bucket: v itself below 256; above, the top eight
// bits of v (128..255) offset by 128 per bit dropped.
func bucketOf(v uint64) int {
	if v < linear {
		return int(v)
	}
	if bits.Len64(v) > maxBits {
		v = 1<<maxBits - 1
	}
	shift := bits.Len64(v) - subBits - 1
	return shift<<subBits + int(v>>shift)
}

// bucketMax is the largest value that falls in bucket i.
func bucketMax(i int) uint64 {
	if i < linear {
		return uint64(i)
	}
	shift := i>>subBits - 1
	top := uint64(i - shift<<subBits)
	return (top+1)<<shift - 1
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

func (h *histogram) count() uint64 { return h.n }

// percentile returns the smallest recorded bucket bound below which p
// percent of values fall, capped at the largest value seen.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(h.n))
	if float64(rank) < p/100*float64(h.n) {
		rank++ // ceiling
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketMax(i)), h.max)
		}
	}
	return h.max
}
