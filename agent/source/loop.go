package source

import (
	"context"
	"fmt"
)

// stopLoop ends a source's polling goroutine: it closes quit, waits for
// done, and if ctx ends first cancels the put in flight (cancel) and waits
// again. name prefixes the deadline error.
func stopLoop(ctx context.Context, name string, quit, done chan struct{}, cancel context.CancelFunc) error {
	close(quit)
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("%s: stop: %w", name, ctx.Err())
		cancel()
		<-done
	}
	cancel()
	return err
}
