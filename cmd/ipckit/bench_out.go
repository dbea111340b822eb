package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/ipckit/ipckit/internal/feature"
)

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtDur(d float64) string {
	switch {
	case d >= 1e6:
		return fmt.Sprintf("%.2fms", d/1e6)
	case d >= 1e3:
		return fmt.Sprintf("%.2fµs", d/1e3)
	}
	return fmt.Sprintf("%.0fns", d)
}

func fmtRatio(r float64) string {
	switch {
	case r == 0:
		return "-"
	case r < 0.1:
		return fmt.Sprintf("%.2g×", r) // two significant digits: 0.0048×
	}
	return fmt.Sprintf("%.2f×", r)
}

// writeBenchTables prints, for each size, the table, the rows that were
// skipped or failed, and the targets that apply.
func writeBenchTables(w io.Writer, b *benchRun) {
	var sizes []string
	for _, s := range b.sizes {
		sizes = append(sizes, sizeName(s))
	}
	fmt.Fprintf(w, "ipckit bench: %d rows; sizes %s; throughput %v, round trip %v per measurement; median of %d\n",
		len(b.rows), strings.Join(sizes, ", "), b.opts.dur, b.opts.rttDur, b.opts.repeats)
	vs := "vs " + b.baseline.label()
	fmt.Fprintf(w, "two processes unless a row says otherwise; %q is this row's value ÷ %s's at the same size\n", vs, b.baseline.name)
	fmt.Fprintf(w, "(msgs/s: above 1× is faster than %s; RTT p50: below 1× is faster)\n", b.baseline.label())
	for _, size := range b.sizes {
		fmt.Fprintf(w, "\n== %d-byte messages\n", size)
		head := []string{"transport", "msgs/s", "MB/s", "msgs/s " + vs, "RTT p50", "RTT p99", "p50 " + vs}
		var rows [][]string
		var skipped, failed []string
		for _, r := range b.results[size] {
			if r.skip != "" {
				skipped = append(skipped, fmt.Sprintf("  %s: %s", r.t.name, r.skip))
				continue
			}
			if r.err != "" {
				failed = append(failed, fmt.Sprintf("  %s: %s", r.t.name, r.err))
				continue
			}
			tr, lr := b.ratios(r)
			tput, mb, p50, p99 := "-", "-", "-", "-"
			if r.hasTput {
				tput, mb = fmtRate(r.msgsPerS), fmt.Sprintf("%.1f", r.mbPerS)
			}
			if r.hasRTT {
				p50, p99 = fmtDur(float64(r.p50)), fmtDur(float64(r.p99))
			}
			rows = append(rows, []string{r.t.name, tput, mb, fmtRatio(tr), p50, p99, fmtRatio(lr)})
		}
		if len(rows) > 0 {
			writeTable(w, head, []bool{false, true, true, true, true, true, true}, rows)
		}
		if ref := b.find(size, b.baseline.name); ref != nil && !ref.ok() {
			fmt.Fprintf(w, "no ratios: the baseline %s did not run at this size\n", b.baseline.name)
		}
		if len(skipped) > 0 {
			fmt.Fprintf(w, "skipped:\n%s\n", strings.Join(skipped, "\n"))
		}
		if len(failed) > 0 {
			fmt.Fprintf(w, "failed:\n%s\n", strings.Join(failed, "\n"))
		}
		var tl [][]string
		for _, tg := range benchTargets {
			if tg.size != size {
				continue
			}
			st, ratio := b.targetStatus(tg)
			switch st {
			case "not run":
				continue
			case "met", "missed":
				if st == "missed" {
					st = "MISSED"
				}
				tl = append(tl, []string{"  " + tg.desc, fmtRatio(ratio), st})
			default:
				tl = append(tl, []string{"  " + tg.desc, "-", st})
			}
		}
		if len(tl) > 0 {
			fmt.Fprintf(w, "targets (%s):\n", sizeName(size))
			writeTable(w, nil, []bool{false, true, false}, tl)
		}
	}
}

// benchJSON is the document -json prints.
type benchJSON struct {
	Config  benchConfigJSON   `json:"config"`
	Results []benchResultJSON `json:"results"`
	Targets []benchTargetJSON `json:"targets"`
}

type benchConfigJSON struct {
	Sizes            []int  `json:"sizes"`
	ThroughputTimeNS int64  `json:"throughput_time_ns"`
	RTTTimeNS        int64  `json:"rtt_time_ns"`
	Repeat           int    `json:"repeat"`
	Baseline         string `json:"baseline"`
	Kernel           string `json:"kernel,omitempty"`
	GOARCH           string `json:"goarch"`
	CPUs             int    `json:"cpus"`
	Go               string `json:"go"`
	Version          string `json:"ipckit"`
}

type benchResultJSON struct {
	Size           int      `json:"size"`
	Transport      string   `json:"transport"`
	Status         string   `json:"status"` // ok, skipped, failed
	Reason         string   `json:"reason,omitempty"`
	MsgsPerS       *float64 `json:"msgs_per_s,omitempty"`
	MBPerS         *float64 `json:"mb_per_s,omitempty"`
	RTTP50NS       *int64   `json:"rtt_p50_ns,omitempty"`
	RTTP99NS       *int64   `json:"rtt_p99_ns,omitempty"`
	MsgsVsBaseline *float64 `json:"msgs_per_s_vs_baseline,omitempty"`
	P50VsBaseline  *float64 `json:"rtt_p50_vs_baseline,omitempty"`
}

type benchTargetJSON struct {
	Size   int      `json:"size"`
	Target string   `json:"target"`
	A      string   `json:"a"`
	B      string   `json:"b"`
	Metric string   `json:"metric"` // msgs_per_s (a/b at least want) or rtt_p50 (a/b at most want)
	Want   float64  `json:"want"`
	AtMost bool     `json:"at_most"`
	Ratio  *float64 `json:"ratio,omitempty"`
	Status string   `json:"status"` // met, missed, not measured, not run
}

func f64(v float64) *float64 { return &v }

func benchDocument(b *benchRun) benchJSON {
	doc := benchJSON{Config: benchConfigJSON{
		Sizes: b.sizes, ThroughputTimeNS: b.opts.dur.Nanoseconds(), RTTTimeNS: b.opts.rttDur.Nanoseconds(),
		Repeat: b.opts.repeats, Baseline: b.baseline.name, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
		Go: runtime.Version(), Version: version(),
	}}
	if kv, err := feature.KernelVersion(); err == nil {
		doc.Config.Kernel = kv.String()
	}
	doc.Results = []benchResultJSON{}
	for _, size := range b.sizes {
		for _, r := range b.results[size] {
			j := benchResultJSON{Size: size, Transport: r.t.name, Status: "ok"}
			switch {
			case r.skip != "":
				j.Status, j.Reason = "skipped", r.skip
			case r.err != "":
				j.Status, j.Reason = "failed", r.err
			default:
				if r.hasTput {
					j.MsgsPerS, j.MBPerS = f64(r.msgsPerS), f64(r.mbPerS)
				}
				if r.hasRTT {
					p50, p99 := r.p50.Nanoseconds(), r.p99.Nanoseconds()
					j.RTTP50NS, j.RTTP99NS = &p50, &p99
				}
				tr, lr := b.ratios(r)
				if tr != 0 {
					j.MsgsVsBaseline = f64(tr)
				}
				if lr != 0 {
					j.P50VsBaseline = f64(lr)
				}
			}
			doc.Results = append(doc.Results, j)
		}
	}
	doc.Targets = []benchTargetJSON{}
	for _, tg := range benchTargets {
		st, ratio := b.targetStatus(tg)
		j := benchTargetJSON{Size: tg.size, Target: tg.desc, A: tg.a, B: tg.b, Metric: "msgs_per_s", Want: tg.want, AtMost: tg.rtt, Status: st}
		if tg.rtt {
			j.Metric = "rtt_p50"
		}
		if ratio != 0 {
			j.Ratio = f64(ratio)
		}
		doc.Targets = append(doc.Targets, j)
	}
	return doc
}

func writeBenchJSON(w io.Writer, b *benchRun) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(benchDocument(b))
}

// csvHeader is the header of -csv: one record per row and size
// ("result") and one per target ("target"); cells that do not apply to a
// record are empty.
var csvHeader = []string{"record", "size", "name", "status", "reason",
	"msgs_per_s", "mb_per_s", "rtt_p50_ns", "rtt_p99_ns",
	"baseline", "msgs_per_s_vs_baseline", "rtt_p50_vs_baseline",
	"target_a", "target_b", "target_metric", "target_want", "target_at_most", "target_ratio"}

func writeBenchCSV(w io.Writer, b *benchRun) error {
	doc := benchDocument(b)
	cw := csv.NewWriter(w)
	fl := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	in := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range doc.Results {
		cw.Write([]string{"result", strconv.Itoa(r.Size), r.Transport, r.Status, r.Reason,
			fl(r.MsgsPerS), fl(r.MBPerS), in(r.RTTP50NS), in(r.RTTP99NS),
			doc.Config.Baseline, fl(r.MsgsVsBaseline), fl(r.P50VsBaseline), "", "", "", "", "", ""})
	}
	for _, t := range doc.Targets {
		cw.Write([]string{"target", strconv.Itoa(t.Size), t.Target, t.Status, "",
			"", "", "", "", "", "", "",
			t.A, t.B, t.Metric, strconv.FormatFloat(t.Want, 'g', -1, 64), strconv.FormatBool(t.AtMost), fl(t.Ratio)})
	}
	cw.Flush()
	return cw.Error()
}
