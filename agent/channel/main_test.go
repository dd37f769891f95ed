package channel

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind, such as
// a putter that was never woken.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
