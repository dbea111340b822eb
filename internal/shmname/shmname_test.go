package shmname

import (
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	long251 := strings.Repeat("a", 251)
	for _, tc := range []struct {
		name, prefix, want string
		ok                 bool
	}{
		{"x", "", "x", true},
		{"/x", "", "x", true},
		{"//x", "", "x", true},
		{"/x", "sem.", "sem.x", true},
		{"", "", "", false},
		{"/", "", "", false},
		{"/a/b", "", "", false},
		{"/.", "", "", false},
		{"/..", "", "", false},
		{"a\x00b", "", "", false},
		{long251, "sem.", "sem." + long251, true},
		{long251 + "a", "sem.", "", false},
		{strings.Repeat("b", 255), "", strings.Repeat("b", 255), true},
		{strings.Repeat("b", 256), "", "", false},
	} {
		got, err := Clean(tc.name, tc.prefix)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("Clean(%q, %q) = %q, %v; want %q ok=%v", tc.name, tc.prefix, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v is not ErrInvalid", err)
		}
	}
}
