package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every value lies in a bucket whose top is at most 1% above it, and
	// buckets are in order.
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, 1<<41 - 1} {
		i := bucketOf(v)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, after %d (of %d)", v, i, prev, numBuckets)
		}
		prev = i
		top := bucketMax(i)
		if top < v || float64(top-v) > 0.01*float64(v) {
			t.Errorf("value %d in bucket %d topping at %d", v, i, top)
		}
		if i > 0 && bucketMax(i-1) >= v {
			t.Errorf("value %d also fits the bucket below (top %d)", v, bucketMax(i-1))
		}
	}
	if i := bucketOf(1 << 62); i >= numBuckets {
		t.Errorf("huge value overflows: bucket %d of %d", i, numBuckets)
	}
}

func TestPercentilesMatchExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, a, b histogram
	var all []time.Duration
	for i := range 100000 {
		// Log-normal-ish: mostly around 1ms, a tail to ~1s.
		d := time.Duration(float64(time.Millisecond) * r.ExpFloat64() * r.ExpFloat64())
		all = append(all, d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	h.merge(&a)
	h.merge(&b)
	slices.Sort(all)
	for _, p := range []float64{50, 90, 99, 99.9} {
		exact := all[int(p/100*float64(len(all)))-1]
		got := h.percentile(p)
		if got < exact || float64(got-exact) > 0.01*float64(exact)+1 {
			t.Errorf("p%v = %v, exact %v", p, got, exact)
		}
	}
	if h.min != all[0] || h.max != all[len(all)-1] || h.count() != uint64(len(all)) {
		t.Errorf("min %v max %v n %d; want %v %v %d", h.min, h.max, h.count(), all[0], all[len(all)-1], len(all))
	}
}

func TestPercentileEmptyAndSingle(t *testing.T) {
	var h histogram
	if h.percentile(50) != 0 {
		t.Error("empty histogram has a percentile")
	}
	h.record(1234567 * time.Nanosecond)
	for _, p := range []float64{0, 50, 100} {
		if got := h.percentile(p); got != 1234567 {
			t.Errorf("single value: p%v = %v, want the value itself", p, got)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	var h histogram
	d := 1500 * time.Microsecond
	for b.Loop() {
		h.record(d)
		d += 7
	}
}
