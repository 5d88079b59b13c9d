package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// PlotOptions say what to draw from a sweep's CSV rows.
type PlotOptions struct {
	Title string
	// X is the column on the horizontal axis: offered_rps (the default),
	// achieved_rps or concurrency (drawn on a log scale).
	X string
	// Width and Height in pixels; 1000 × 760 when zero.
	Width, Height int
}

// series is one label's points, in x order.
type series struct {
	label string
	pts   []plotPoint
}

type plotPoint struct {
	x, p50, p99, p999, achieved, ok, errors float64
}

// Plot draws latency (p50, p99, p99.9, log scale) and throughput (all
// answers and successful ones, with the errors marked) against opt.X, one
// colour per label, as a PNG: the knee of the latency curve is where the
// server saturates. Probe rows and rows without an X value are left out.
func Plot(w io.Writer, rows []map[string]string, opt PlotOptions) error {
	if opt.X == "" {
		opt.X = "offered_rps"
	}
	switch opt.X {
	case "offered_rps", "achieved_rps", "concurrency":
	default:
		return fmt.Errorf("plot: x must be offered_rps, achieved_rps or concurrency, not %q", opt.X)
	}
	if opt.Width == 0 {
		opt.Width = 1000
	}
	if opt.Height == 0 {
		opt.Height = 760
	}
	if opt.Width < 400 || opt.Height < 300 || opt.Width > 4000 || opt.Height > 4000 {
		return errors.New("plot: size out of range (400×300 to 4000×4000)")
	}
	var all []*series
	byLabel := map[string]*series{}
	num := func(r map[string]string, k string) float64 {
		v, err := strconv.ParseFloat(r[k], 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	for _, r := range rows {
		if r["mode"] == "probe" {
			continue
		}
		x := num(r, opt.X)
		if math.IsNaN(x) || x <= 0 {
			continue
		}
		s := byLabel[r["label"]]
		if s == nil {
			s = &series{label: r["label"]}
			byLabel[s.label] = s
			all = append(all, s)
		}
		s.pts = append(s.pts, plotPoint{
			x: x, p50: num(r, "p50_ms"), p99: num(r, "p99_ms"), p999: num(r, "p999_ms"),
			achieved: num(r, "achieved_rps"), ok: num(r, "ok_rps"),
			errors: num(r, "status_errors") + num(r, "transport_errors"),
		})
	}
	if len(all) == 0 {
		return fmt.Errorf("plot: no row has a positive %s", opt.X)
	}
	for _, s := range all {
		slices.SortFunc(s.pts, func(a, b plotPoint) int { return cmpFloat(a.x, b.x) })
	}

	c := newCanvas(opt.Width, opt.Height)
	c.text(opt.Width/2-c.textWidth(opt.Title, 2)/2, 10, opt.Title, black, 2)

	// Ranges.
	xmin, xmax := math.Inf(1), math.Inf(-1)
	lmin, lmax := math.Inf(1), math.Inf(-1)
	tmax := 0.0
	for _, s := range all {
		for _, p := range s.pts {
			xmin, xmax = math.Min(xmin, p.x), math.Max(xmax, p.x)
			for _, l := range []float64{p.p50, p.p99, p.p999} {
				if l > 0 {
					lmin, lmax = math.Min(lmin, l), math.Max(lmax, l)
				}
			}
			tmax = math.Max(tmax, math.Max(p.achieved, p.ok))
			if opt.X == "offered_rps" {
				tmax = math.Max(tmax, p.x)
			}
		}
	}
	if math.IsInf(lmin, 1) {
		lmin, lmax = 0.1, 1
	}
	var xa axis
	if opt.X == "concurrency" {
		xa = newLogAxis(xmin, xmax)
	} else {
		xa = newLinearAxis(0, xmax*1.04)
	}
	la := newLogAxis(lmin, lmax)
	ta := newLinearAxis(0, math.Max(tmax*1.08, 1))

	left, right := 100, opt.Width-24
	top1, bottom1 := 60, 60+(opt.Height-60-70)*58/100
	top2, bottom2 := bottom1+56, opt.Height-56
	xlabel := map[string]string{"offered_rps": "offered load (requests/s)", "achieved_rps": "achieved throughput (requests/s)", "concurrency": "requests in flight"}[opt.X]

	// Latency panel.
	c.panel(left, top1, right, bottom1, xa, la, fmtTick, fmtTick)
	c.text(left, top1-16, "latency, ms (log scale): p50 dashed, p99 solid, p99.9 dotted", black, 1)
	for i, s := range all {
		col := palette[i%len(palette)]
		for _, q := range []struct {
			get  func(plotPoint) float64
			dash []int
		}{
			{func(p plotPoint) float64 { return p.p50 }, []int{7, 5}},
			{func(p plotPoint) float64 { return p.p99 }, nil},
			{func(p plotPoint) float64 { return p.p999 }, []int{2, 4}},
		} {
			var xs, ys []int
			for _, p := range s.pts {
				if v := q.get(p); v > 0 {
					xs = append(xs, xa.pixel(p.x, left, right))
					ys = append(ys, la.pixel(v, bottom1, top1))
				}
			}
			c.polyline(xs, ys, col, 2, q.dash)
			for k := range xs {
				c.marker(xs[k], ys[k], col)
			}
		}
	}
	// Legend.
	ly := top1 + 8
	for i, s := range all {
		col := palette[i%len(palette)]
		c.rect(left+10, ly+3, left+34, ly+6, col)
		c.text(left+40, ly, s.label, black, 1)
		ly += 14
	}

	// Throughput panel.
	c.panel(left, top2, right, bottom2, xa, ta, fmtTick, fmtTick)
	note := "throughput, requests/s: successful solid, all answers dashed; red: errors"
	if opt.X == "offered_rps" {
		note += "; grey: offered"
		end := math.Min(xa.max, ta.max)
		c.polyline([]int{xa.pixel(0, left, right), xa.pixel(end, left, right)}, []int{ta.pixel(0, bottom2, top2), ta.pixel(end, bottom2, top2)}, grey, 1, []int{4, 4})
	}
	c.text(left, top2-16, note, black, 1)
	for i, s := range all {
		col := palette[i%len(palette)]
		var xs, oks, ach []int
		for _, p := range s.pts {
			xs = append(xs, xa.pixel(p.x, left, right))
			oks = append(oks, ta.pixel(p.ok, bottom2, top2))
			ach = append(ach, ta.pixel(p.achieved, bottom2, top2))
		}
		c.polyline(xs, ach, col, 1, []int{7, 5})
		c.polyline(xs, oks, col, 2, nil)
		for k, p := range s.pts {
			c.marker(xs[k], oks[k], col)
			if p.errors > 0 {
				c.cross(xs[k], ach[k], red)
			}
		}
	}
	c.text((left+right)/2-c.textWidth(xlabel, 1)/2, opt.Height-20, xlabel, black, 1)
	return png.Encode(w, c.img)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var (
	black   = color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey    = color.RGBA{0x99, 0x99, 0x99, 0xff}
	light   = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	red     = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	palette = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
		{0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	}
)

// axis maps data values to pixels and says where its ticks go.
type axis struct {
	log      bool
	min, max float64 // data range (for a log axis, positive)
	ticks    []float64
	minor    []float64
}

func newLinearAxis(lo, hi float64) axis {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	a := axis{min: lo, max: hi}
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		a.ticks = append(a.ticks, v)
	}
	return a
}

func newLogAxis(lo, hi float64) axis {
	lo10, hi10 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if hi10 <= lo10 {
		hi10 = lo10 + 1
	}
	a := axis{log: true, min: math.Pow(10, lo10), max: math.Pow(10, hi10)}
	for e := lo10; e <= hi10; e++ {
		d := math.Pow(10, e)
		a.ticks = append(a.ticks, d)
		if e < hi10 {
			a.minor = append(a.minor, 2*d, 5*d)
		}
	}
	return a
}

// pixel maps v onto [p0, p1] (p1 may be smaller: y grows downwards).
func (a axis) pixel(v float64, p0, p1 int) int {
	var f float64
	if a.log {
		f = (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	} else {
		f = (v - a.min) / (a.max - a.min)
	}
	return p0 + int(math.Round(f*float64(p1-p0)))
}

// fmtTick prints a tick value compactly: 0.1, 2, 2.5, 10000.
func fmtTick(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 7 {
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	return s
}

// canvas is an RGBA image with the few drawing operations the plots need.
type canvas struct{ img *image.RGBA }

func newCanvas(w, h int) *canvas {
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	c.rect(0, 0, w-1, h-1, color.RGBA{0xff, 0xff, 0xff, 0xff})
	return c
}

func (c *canvas) set(x, y int, col color.RGBA) {
	if image.Pt(x, y).In(c.img.Rect) {
		c.img.SetRGBA(x, y, col)
	}
}

// rect fills [x0, x1] × [y0, y1].
func (c *canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	for y := min(y0, y1); y <= max(y0, y1); y++ {
		for x := min(x0, x1); x <= max(x0, x1); x++ {
			c.set(x, y, col)
		}
	}
}

// line draws from (x0, y0) to (x1, y1), width pixels wide, dashed by the
// on/off lengths in dash (solid when nil).
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA, width int, dash []int) {
	n := max(abs(x1-x0), abs(y1-y0))
	period := 0
	for _, d := range dash {
		period += d
	}
	for i := 0; i <= n; i++ {
		if period > 0 {
			if phase := i % period; len(dash) >= 2 && phase >= dash[0] {
				continue
			}
		}
		x, y := x0, y0
		if n > 0 {
			x = x0 + int(math.Round(float64((x1-x0)*i)/float64(n)))
			y = y0 + int(math.Round(float64((y1-y0)*i)/float64(n)))
		}
		for dy := 0; dy < width; dy++ {
			for dx := 0; dx < width; dx++ {
				c.set(x+dx-width/2, y+dy-width/2, col)
			}
		}
	}
}

func (c *canvas) polyline(xs, ys []int, col color.RGBA, width int, dash []int) {
	for i := 1; i < len(xs); i++ {
		c.line(xs[i-1], ys[i-1], xs[i], ys[i], col, width, dash)
	}
}

func (c *canvas) marker(x, y int, col color.RGBA) { c.rect(x-2, y-2, x+2, y+2, col) }

func (c *canvas) cross(x, y int, col color.RGBA) {
	c.line(x-4, y-4, x+4, y+4, col, 2, nil)
	c.line(x-4, y+4, x+4, y-4, col, 2, nil)
}

// text draws s with its top-left corner at (x, y), each font pixel scale
// pixels square.
func (c *canvas) text(x, y int, s string, col color.RGBA, scale int) {
	for _, r := range s {
		rows := glyphRows(r)
		for gy, row := range rows {
			for gx := 0; gx < 5; gx++ {
				if row[gx] == '#' {
					c.rect(x+gx*scale, y+gy*scale, x+gx*scale+scale-1, y+gy*scale+scale-1, col)
				}
			}
		}
		x += 6 * scale
	}
}

func (c *canvas) textWidth(s string, scale int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return n*6*scale - scale
}

// panel draws a frame with grid lines and tick labels for axes xa, ya.
func (c *canvas) panel(x0, y0, x1, y1 int, xa, ya axis, fx, fy func(float64) string) {
	for _, v := range ya.minor {
		y := ya.pixel(v, y1, y0)
		c.line(x0, y, x1, y, light, 1, []int{2, 3})
	}
	for _, v := range xa.minor {
		x := xa.pixel(v, x0, x1)
		c.line(x, y0, x, y1, light, 1, []int{2, 3})
	}
	for _, v := range ya.ticks {
		y := ya.pixel(v, y1, y0)
		c.line(x0, y, x1, y, light, 1, nil)
		label := fy(v)
		c.text(x0-8-c.textWidth(label, 1), y-3, label, black, 1)
	}
	for _, v := range xa.ticks {
		x := xa.pixel(v, x0, x1)
		c.line(x, y0, x, y1, light, 1, nil)
		label := fx(v)
		c.text(x-c.textWidth(label, 1)/2, y1+8, label, black, 1)
	}
	c.line(x0, y0, x1, y0, black, 1, nil)
	c.line(x0, y1, x1, y1, black, 1, nil)
	c.line(x0, y0, x0, y1, black, 1, nil)
	c.line(x1, y0, x1, y1, black, 1, nil)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// plotTitle is the default title of a plot of files.
func plotTitle(files []string) string {
	var names []string
	for _, f := range files {
		f = f[strings.LastIndex(f, "/")+1:]
		names = append(names, strings.TrimSuffix(f, ".csv"))
	}
	return strings.Join(names, ", ")
}
