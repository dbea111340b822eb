package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/feature"
)

func TestFeaturesCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"features"}, &out, &errb); code != 0 {
		t.Fatalf("ipckit features = %d, stderr %q", code, errb.String())
	}
	for _, ft := range feature.All() {
		if !strings.Contains(out.String(), ft.Name) {
			t.Errorf("output lacks %q:\n%s", ft.Name, out.String())
		}
	}
	t.Logf("\n%s", out.String())

	out.Reset()
	if code := run([]string{"features", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("ipckit features --json = %d, stderr %q", code, errb.String())
	}
	var doc struct {
		Kernel   string
		Features []featureReport
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	if doc.Kernel == "" || len(doc.Features) != len(feature.All()) {
		t.Errorf("JSON = %+v", doc)
	}
	for _, f := range doc.Features {
		if f.Supported != (feature.Find(f.Name).Err() == nil) {
			t.Errorf("%s: JSON says supported=%v, probe says %v", f.Name, f.Supported, feature.Find(f.Name).Err())
		}
	}
	if code := run([]string{"features", "extra"}, &out, &errb); code != 1 {
		t.Errorf("ipckit features extra = %d, want 1", code)
	}
}
