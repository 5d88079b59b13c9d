package main

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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

var (
	grey    = color.RGBA{0x99, 0x99, 0x99, 0xff}
	red     = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	palette = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
		{0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	}
)

// Plot draws latency (p50, p99, p99.9, log scale) and throughput (all
// answers and successful ones, with the errors marked) against opt.X, one
// colour per label, as a PNG (gonum/plot): the knee of the latency curve is
// where the server saturates. Probe rows and rows without an X value are
// left out.
func Plot(w io.Writer, rows []map[string]string, opt PlotOptions) error {
	if opt.X == "" {
		opt.X = "offered_rps"
	}
	xlabel, ok := map[string]string{
		"offered_rps":  "offered load (requests/s)",
		"achieved_rps": "achieved throughput (requests/s)",
		"concurrency":  "requests in flight (log scale)",
	}[opt.X]
	if !ok {
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
	all := collect(rows, opt.X)
	if len(all) == 0 {
		return fmt.Errorf("plot: no row has a positive %s", opt.X)
	}

	lat := plot.New()
	lat.Title.Text = opt.Title + "\nlatency: p50 dashed, p99 solid, p99.9 dotted"
	lat.Y.Label.Text = "latency, ms (log scale)"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lat.Legend.Top = true
	lat.Legend.Left = true

	thr := plot.New()
	thr.X.Label.Text = xlabel
	thr.Title.Text = "throughput: successful solid, all answers dashed, red dots where some failed"
	if opt.X == "offered_rps" {
		thr.Title.Text += ", offered grey"
	}
	thr.Y.Label.Text = "requests/s"
	thr.Y.Min = 0
	if opt.X == "concurrency" {
		for _, p := range []*plot.Plot{lat, thr} {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
	} else {
		lat.X.Min, thr.X.Min = 0, 0
	}

	dashes := [][]vg.Length{{vg.Points(5), vg.Points(3.5)}, nil, {vg.Points(1.5), vg.Points(3)}}
	xmax := 0.0
	for i, s := range all {
		col := palette[i%len(palette)]
		for q, get := range []func(plotPoint) float64{
			func(p plotPoint) float64 { return p.p50 },
			func(p plotPoint) float64 { return p.p99 },
			func(p plotPoint) float64 { return p.p999 },
		} {
			var xys plotter.XYs
			for _, p := range s.pts {
				if v := get(p); v > 0 { // a log axis has no place for 0
					xys = append(xys, plotter.XY{X: p.x, Y: v})
				}
			}
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Width, l.Dashes = col, vg.Points(1.5), dashes[q]
			pts.Color, pts.Shape = col, draw.BoxGlyph{}
			lat.Add(l, pts)
			if q == 1 {
				lat.Legend.Add(s.label, l)
			}
		}

		var okXYs, allXYs, errXYs plotter.XYs
		for _, p := range s.pts {
			xmax = math.Max(xmax, p.x)
			okXYs = append(okXYs, plotter.XY{X: p.x, Y: p.ok})
			allXYs = append(allXYs, plotter.XY{X: p.x, Y: p.achieved})
			if p.errors > 0 {
				errXYs = append(errXYs, plotter.XY{X: p.x, Y: p.achieved})
			}
		}
		okLine, okPts, err := plotter.NewLinePoints(okXYs)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		okLine.Color, okLine.Width = col, vg.Points(1.5)
		okPts.Color, okPts.Shape = col, draw.BoxGlyph{}
		allLine, err := plotter.NewLine(allXYs)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		allLine.Color, allLine.Width, allLine.Dashes = col, vg.Points(1), dashes[0]
		thr.Add(allLine, okLine, okPts)
		if len(errXYs) > 0 {
			e, err := plotter.NewScatter(errXYs)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			e.Color, e.Shape, e.Radius = red, draw.CircleGlyph{}, vg.Points(4)
			thr.Add(e)
		}
	}
	if opt.X == "offered_rps" {
		offered, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: xmax, Y: xmax}})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		offered.Color, offered.Dashes = grey, dashes[0]
		thr.Add(offered)
	}
	lat.Add(plotter.NewGrid())
	thr.Add(plotter.NewGrid())

	// Latency above throughput, 58% to 42%, sharing the x axis's range.
	lat.X.Min, lat.X.Max = math.Min(lat.X.Min, thr.X.Min), math.Max(lat.X.Max, thr.X.Max)
	thr.X.Min, thr.X.Max = lat.X.Min, lat.X.Max
	dpi := float64(vgimg.DefaultDPI)
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(float64(opt.Width)/dpi)*vg.Inch, vg.Length(float64(opt.Height)/dpi)*vg.Inch), vgimg.UseDPI(int(dpi)))
	dc := draw.New(img)
	split := dc.Min.Y + (dc.Max.Y-dc.Min.Y)*0.42
	top, bottom := dc, dc
	top.Min.Y, bottom.Max.Y = split, split
	lat.Draw(top)
	thr.Draw(bottom)
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// collect groups the rows with a positive x by label, each in x order.
func collect(rows []map[string]string, x string) []*series {
	num := func(r map[string]string, k string) float64 {
		v, err := strconv.ParseFloat(r[k], 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	var all []*series
	byLabel := map[string]*series{}
	for _, r := range rows {
		if r["mode"] == "probe" {
			continue
		}
		xv := num(r, x)
		if math.IsNaN(xv) || xv <= 0 {
			continue
		}
		s := byLabel[r["label"]]
		if s == nil {
			s = &series{label: r["label"]}
			byLabel[s.label] = s
			all = append(all, s)
		}
		s.pts = append(s.pts, plotPoint{
			x: xv, p50: num(r, "p50_ms"), p99: num(r, "p99_ms"), p999: num(r, "p999_ms"),
			achieved: num(r, "achieved_rps"), ok: num(r, "ok_rps"),
			errors: num(r, "status_errors") + num(r, "transport_errors"),
		})
	}
	for _, s := range all {
		slices.SortFunc(s.pts, func(a, b plotPoint) int {
			switch {
			case a.x < b.x:
				return -1
			case a.x > b.x:
				return 1
			}
			return 0
		})
	}
	return all
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
