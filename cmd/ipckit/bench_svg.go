package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
)

// writeBenchSVG draws the run as a hand-written SVG: two panels of
// horizontal bars on log scales, throughput (messages per second; longer
// is faster) and round-trip p50 (shorter is faster), one bar per message
// size for each row.
func writeBenchSVG(out io.Writer, b *benchRun) error {
	w := bufio.NewWriter(out)
	const (
		width   = 980
		left    = 260 // row labels
		right   = 90  // value labels past the longest bar
		plotW   = width - left - right
		barH    = 11
		barGap  = 2
		rowGap  = 8
		top     = 64
		panelHd = 44 // panel title and axis labels
	)
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"}
	color := func(i int) string { return colors[i%len(colors)] }
	rowH := len(b.sizes)*(barH+barGap) - barGap + rowGap

	type panel struct {
		title  string
		has    func(r *result) bool
		value  func(r *result) float64
		label  func(v float64) string
		tick   func(v float64) string
		rows   []*transport
		lo, hi float64 // log10 of the axis ends
	}
	panels := []*panel{
		{title: "Throughput, messages per second (log scale; longer is faster)",
			has:   func(r *result) bool { return r.ok() && r.hasTput && r.msgsPerS > 0 },
			value: func(r *result) float64 { return r.msgsPerS },
			label: fmtRate, tick: tickRate},
		{title: "Round trip p50 (log scale; shorter is faster)",
			has:   func(r *result) bool { return r.ok() && r.hasRTT && r.p50 > 0 },
			value: func(r *result) float64 { return float64(r.p50) },
			label: fmtDur, tick: tickDur},
	}
	for i, p := range panels {
		rtt := i == 1
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, t := range b.rows {
			if (rtt && t.tputOnly) || (!rtt && t.rttOnly) {
				continue
			}
			p.rows = append(p.rows, t)
			for _, size := range b.sizes {
				if r := b.find(size, t.name); r != nil && p.has(r) {
					v := math.Log10(p.value(r))
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if math.IsInf(lo, 0) {
			lo, hi = 0, 1
		}
		p.lo, p.hi = math.Floor(lo), math.Ceil(hi)
		if p.hi <= p.lo {
			p.hi = p.lo + 1
		}
	}
	height := top
	for _, p := range panels {
		height += panelHd + len(p.rows)*rowH + 24
	}
	height += 16

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="12" y="22" font-size="16" font-weight="bold">%s</text>`+"\n",
		xmlEscape(fmt.Sprintf("ipckit bench — %s/%s, %d CPUs, %s", "linux", runtime.GOARCH, runtime.NumCPU(), runtime.Version())))
	fmt.Fprintf(w, `<text x="12" y="40" fill="#555">%s</text>`+"\n",
		xmlEscape(fmt.Sprintf("throughput %v and round trip %v per measurement, median of %d; baseline %s (bold)",
			b.opts.dur, b.opts.rttDur, b.opts.repeats, b.baseline.name)))
	// Legend: one swatch per message size.
	x := 12
	for i, size := range b.sizes {
		fmt.Fprintf(w, `<rect x="%d" y="48" width="12" height="10" fill="%s"/><text x="%d" y="57">%s</text>`+"\n",
			x, color(i), x+16, xmlEscape(sizeName(size)+" messages"))
		x += 16 + 8*len(sizeName(size)+" messages") + 16
	}

	y := top
	for _, p := range panels {
		fmt.Fprintf(w, `<text x="12" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", y+16, xmlEscape(p.title))
		plotTop := y + panelHd - 10
		plotBottom := plotTop + len(p.rows)*rowH
		xOf := func(v float64) float64 {
			return left + plotW*(math.Log10(v)-p.lo)/(p.hi-p.lo)
		}
		// Decade grid lines, labelled under the panel.
		for d := p.lo; d <= p.hi; d++ {
			gx := xOf(math.Pow(10, d))
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", gx, plotTop-4, gx, plotBottom)
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, plotBottom+14, xmlEscape(p.tick(math.Pow(10, d))))
		}
		for ri, t := range p.rows {
			ry := plotTop + ri*rowH
			weight := ""
			if t == b.baseline {
				weight = ` font-weight="bold"`
			}
			fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end"%s>%s</text>`+"\n",
				left-8, ry+(rowH-rowGap)/2+4, weight, xmlEscape(t.name))
			for si, size := range b.sizes {
				by := ry + si*(barH+barGap)
				r := b.find(size, t.name)
				if r == nil || !p.has(r) {
					why := "not measured"
					if r != nil && r.skip != "" {
						why = "skipped: " + r.skip
					} else if r != nil && r.err != "" {
						why = "failed"
					}
					fmt.Fprintf(w, `<text x="%d" y="%d" font-size="10" fill="#999">%s</text>`+"\n", left+4, by+barH-2, xmlEscape(sizeName(size)+" "+why))
					continue
				}
				v := p.value(r)
				bx := xOf(v)
				fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
					left, by, math.Max(bx-left, 1), barH, color(si), xmlEscape(fmt.Sprintf("%s, %s: %s", t.name, sizeName(size), p.label(v))))
				fmt.Fprintf(w, `<text x="%.1f" y="%d" font-size="10">%s</text>`+"\n", math.Max(bx, left+1)+4, by+barH-2, xmlEscape(p.label(v)))
			}
		}
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, plotTop-4, left, plotBottom)
		y = plotBottom + 24 + 10
	}
	fmt.Fprintln(w, "</svg>")
	return w.Flush()
}

// tickRate labels a power of ten of messages per second: 1, 10, 1k, 1M.
func tickRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// tickDur labels a power of ten of nanoseconds: 100ns, 1µs, 10ms, 1s.
func tickDur(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%gs", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%gms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%gµs", ns/1e3)
	}
	return fmt.Sprintf("%gns", ns)
}

var xmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlReplacer.Replace(s) }
