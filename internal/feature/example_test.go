package feature_test

import (
	"errors"
	"fmt"

	"github.com/ipckit/ipckit/internal/feature"
)

// A library call that needs an optional kernel feature asks the cached
// probe first and returns its error, which names the feature and the
// minimum kernel and matches ErrNotSupported.
func ExampleTest_Err() {
	if err := feature.FutexWaitv.Err(); errors.Is(err, feature.ErrNotSupported) {
		fmt.Println("falling back to one futex per waiter:", err)
		return
	}
	fmt.Println("futex_waitv available")
}

func ExampleUnsupportedFeatureError() {
	err := error(&feature.UnsupportedFeatureError{Name: "futex_waitv", MinimumVersion: feature.MustParseVersion("5.16")})
	fmt.Println(err)
	fmt.Println(errors.Is(err, feature.ErrNotSupported))
	// Output:
	// futex_waitv not supported (requires Linux 5.16 or later)
	// true
}
