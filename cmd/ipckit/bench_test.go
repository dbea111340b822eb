package main

import (
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestBenchCLI runs `ipckit bench -quick` as a user would: every row
// produces numbers (the C ring needs cc, so CI must have one), -json and
// -csv carry every row, ratio and target, -svg draws a chart, progress
// goes to stderr, skips are listed under the table, and the ratios are to
// the baseline the header names. The numbers themselves are not checked.
func TestBenchCLI(t *testing.T) {
	testenv.SkipUnderEmulation(t, "ipckit bench re-executes its own binary with os/exec, which needs binfmt_misc for a foreign GOARCH")
	testenv.Tool(t, "cc")
	bin := buildIpckit(t)

	t.Run("json-svg-progress", func(t *testing.T) {
		svg := filepath.Join(t.TempDir(), "bench.svg")
		r := ipckit(t, bin, "bench", "-quick", "-sizes", "64,65536", "-json", "-svg", svg)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		var doc benchJSON
		if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
			t.Fatalf("-json output: %v\n%s", err, r.out)
		}
		if doc.Config.Baseline != nameSPSC || !cmp.Equal(doc.Config.Sizes, []int{64, 65536}) || doc.Config.Repeat != 1 {
			t.Errorf("config: %+v", doc.Config)
		}
		if len(doc.Results) != 2*len(transports) {
			t.Errorf("%d results, want %d", len(doc.Results), 2*len(transports))
		}
		byKey := map[string]benchResultJSON{}
		for _, res := range doc.Results {
			byKey[res.Transport+"/"+itoa(res.Size)] = res
		}
		for _, size := range []int{64, 65536} {
			base := byKey[nameSPSC+"/"+itoa(size)]
			for _, tr := range transports {
				res, ok := byKey[tr.name+"/"+itoa(size)]
				switch {
				case !ok:
					t.Errorf("no result for %s at %d", tr.name, size)
					continue
				case res.Status == "skipped" && (strings.Contains(res.Reason, "msgmax") || strings.Contains(res.Reason, "msgsize_max")):
					continue
				case res.Status == "skipped" && tr.sizeOK != nil && res.Reason == tr.sizeOK(size):
					// A typed row (csp) carries one size of value.
					continue
				case res.Status == "skipped" && size != 64 && strings.Contains(res.Reason, "64 B only"):
					continue // shmheap rows
				case res.Status != "ok":
					t.Errorf("%s at %d: %s: %s", tr.name, size, res.Status, res.Reason)
					continue
				}
				if (res.MsgsPerS == nil) != tr.rttOnly || (res.RTTP50NS == nil) != tr.tputOnly {
					t.Errorf("%s at %d: measurements missing: %+v", tr.name, size, res)
				}
				if res.MsgsPerS != nil && (res.MsgsVsBaseline == nil || !near(*res.MsgsVsBaseline, *res.MsgsPerS / *base.MsgsPerS)) {
					t.Errorf("%s at %d: msgs/s ratio %v, want its msgs/s over %s's", tr.name, size, res.MsgsVsBaseline, nameSPSC)
				}
				if res.RTTP50NS != nil && (res.P50VsBaseline == nil || !near(*res.P50VsBaseline, float64(*res.RTTP50NS)/float64(*base.RTTP50NS))) {
					t.Errorf("%s at %d: p50 ratio %v, want its p50 over %s's", tr.name, size, res.P50VsBaseline, nameSPSC)
				}
			}
		}
		if len(doc.Targets) != len(benchTargets) {
			t.Errorf("%d targets, want %d", len(doc.Targets), len(benchTargets))
		}
		for _, tg := range doc.Targets {
			if tg.Size != 64 && tg.Size != 65536 {
				if tg.Status != "not run" {
					t.Errorf("target %q at %d (a size not measured): %s", tg.Target, tg.Size, tg.Status)
				}
				continue
			}
			switch tg.Status {
			case "met", "missed":
				if tg.Ratio == nil || (tg.Status == "met") != ((tg.AtMost && *tg.Ratio <= tg.Want) || (!tg.AtMost && *tg.Ratio >= tg.Want)) {
					t.Errorf("target %q: %s with ratio %v", tg.Target, tg.Status, tg.Ratio)
				}
			default:
				t.Errorf("target %q: %s (every row ran)", tg.Target, tg.Status)
			}
		}
		// Progress: which step, which row and size, about how long is left.
		step := regexp.MustCompile(`^ipckit bench: \[(\d+)/(\d+)\] (.+), (64 B|64 KiB) messages \((about \d+s left|under a second left)\)$`)
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(r.err), "\n") {
			if step.MatchString(l) {
				n++
			} else if !strings.HasPrefix(l, "ipckit bench: "+itoa(2*len(transports))+" measurements in ") {
				t.Errorf("stderr line %q", l)
			}
		}
		if n != 2*len(transports) {
			t.Errorf("%d progress lines, want %d:\n%s", n, 2*len(transports), r.err)
		}
		// The chart is well-formed XML naming every row.
		b, err := os.ReadFile(svg)
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(strings.NewReader(string(b)))
		for {
			if _, err := dec.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("-svg: not XML: %v", err)
				}
				break
			}
		}
		if !strings.HasPrefix(string(b), "<svg ") {
			t.Errorf("-svg does not start with <svg")
		}
		for _, w := range append(rowNamesList(), "Throughput", "Round trip", "64 KiB messages") {
			if !strings.Contains(string(b), xmlEscape(w)) {
				t.Errorf("-svg lacks %q", w)
			}
		}
	})

	t.Run("only-pipe-baseline", func(t *testing.T) {
		// The header names the row the ratios are taken against: with
		// -only pipe,socket that is pipe, not the SPSC ring.
		out := mustRun(t, bin, "bench", "-quick", "-q", "-only", "pipe,socket", "-sizes", "64")
		if strings.Contains(out, "mmapring") || !strings.Contains(out, `"vs pipe" is this row's value ÷ pipe's`) {
			t.Errorf("header does not name pipe as the baseline:\n%s", out)
		}
		var pipeRow []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "pipe ") {
				pipeRow = strings.Fields(l)
			}
			if strings.HasPrefix(l, "transport") && !strings.Contains(l, "msgs/s vs pipe") {
				t.Errorf("columns: %q", l)
			}
		}
		if len(pipeRow) != 7 || pipeRow[3] != "1.00×" || pipeRow[6] != "1.00×" {
			t.Errorf("pipe's own ratios are not 1.00×: %q\n%s", pipeRow, out)
		}
		var doc benchJSON
		if err := json.Unmarshal([]byte(mustRun(t, bin, "bench", "-quick", "-q", "-only", "pipe,socket", "-sizes", "64", "-baseline", "socket", "-json")), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Config.Baseline != nameSock {
			t.Errorf("-baseline socket: baseline %q", doc.Config.Baseline)
		}
		for _, res := range doc.Results {
			if res.Transport == nameSock && (res.MsgsVsBaseline == nil || *res.MsgsVsBaseline != 1) {
				t.Errorf("socketpair's ratio to itself: %v", res.MsgsVsBaseline)
			}
		}
	})

	t.Run("skips-under-table", func(t *testing.T) {
		msgmax, err := readSysctl("kernel.msgmax")
		if err != nil || msgmax[0] >= 65536 {
			t.Skipf("kernel.msgmax is %v: 64 KiB messages fit", msgmax)
		}
		out := mustRun(t, bin, "bench", "-quick", "-q", "-only", "pipe,sysv", "-sizes", "65536")
		want := "skipped:\n  SysV msg queue: kernel.msgmax is " + itoa(int(msgmax[0])) + "\n"
		if !strings.Contains(out, want) {
			t.Errorf("skip not listed under the table:\n%s", out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "msgmax") && !strings.HasPrefix(l, "  SysV msg queue: ") {
				t.Errorf("skip reason inside the table: %q", l)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		out := mustRun(t, bin, "bench", "-quick", "-q", "-only", "pipe", "-sizes", "64", "-csv")
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("-csv: %v\n%s", err, out)
		}
		if d := cmp.Diff(csvHeader, recs[0]); d != "" {
			t.Errorf("header (-want +got):\n%s", d)
		}
		if len(recs) != 1+1+len(benchTargets) {
			t.Fatalf("%d records, want a header, one result and %d targets:\n%s", len(recs), len(benchTargets), out)
		}
		if r := recs[1]; r[0] != "result" || r[2] != namePipe || r[3] != "ok" || r[5] == "" || r[7] == "" || r[9] != namePipe || r[10] != "1" {
			t.Errorf("result record: %q", r)
		}
		for _, r := range recs[2:] {
			if r[0] != "target" || r[3] != "not run" || r[12] == "" || r[15] == "" {
				t.Errorf("target record: %q", r)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func rowNamesList() []string {
	var s []string
	for _, t := range transports {
		s = append(s, t.name)
	}
	return s
}

// TestParseSize covers the suffixes ipcmk accepts.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "4096": 4096, "8K": 8192, "8k": 8192, "1M": 1 << 20, "2KiB": 2048, "1MiB": 1 << 20,
		"3KB": 3000, "1GB": 1e9, "1G": 1 << 30, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "K", "12Q", "1KX", "-1", "99999999999E"} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
}

// TestInterspersedFlags: flags may follow the positional arguments, as
// with util-linux, and "--" ends them.
func TestInterspersedFlags(t *testing.T) {
	var out, errb strings.Builder
	c := newCLI("x", "x", "", &out, &errb)
	j := c.fs.Bool("json", false, "")
	o := c.fs.String("o", "", "")
	pos, done, _ := c.parse([]string{"msg", "--json", "shm", "-o", "ID", "--", "-n"})
	if done || !*j || *o != "ID" || !cmp.Equal(pos, []string{"msg", "shm", "-n"}) {
		t.Errorf("parse: done %v json %v o %q pos %q", done, *j, *o, pos)
	}
}
