package loadgen

import (
	"context"
	"sync"
	"time"
)

// Mix is the sequence each client repeats: Lists tools/list and Calls
// tools/call requests, then a refresh every RefreshEvery rounds and a new
// authorization (another grant, as a reconnecting user makes) every
// AuthorizeEvery rounds; 0 never does either. Pause waits between rounds,
// which holds a client's rate down (a load far over a rate limit still
// needs no more connections than the machine can open).
type Mix struct {
	Lists, Calls                 int
	RefreshEvery, AuthorizeEvery int
	Pause                        time.Duration
}

// Run makes each client (already authorized) repeat the mix until ctx ends,
// recording every request; a failed request is recorded and the client goes
// on with the next one, keeping the tokens it has. Run returns when every
// client has stopped.
func Run(ctx context.Context, clients []*Client, rec *Recorder, mix Mix) {
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for round := 1; ctx.Err() == nil; round++ {
				for range mix.Lists {
					_ = rec.Record(ctx, OpList, i, func() error { _, err := c.ListTools(ctx); return err })
				}
				for range mix.Calls {
					_ = rec.Record(ctx, OpCall, i, func() error { return c.CallTool(ctx) })
				}
				if mix.RefreshEvery > 0 && round%mix.RefreshEvery == 0 {
					_ = rec.Record(ctx, OpRefresh, i, func() error { return c.Refresh(ctx) })
				}
				if mix.AuthorizeEvery > 0 && round%mix.AuthorizeEvery == 0 {
					_ = rec.Record(ctx, OpAuthorize, i, func() error { return c.Authorize(ctx) })
				}
				if mix.Pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(mix.Pause):
					}
				}
			}
		})
	}
	wg.Wait()
}

// Start runs the mix in the background, as Run does, until the returned
// stop is called; stop returns once every client has stopped.
func Start(clients []*Client, rec *Recorder, mix Mix) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, clients, rec, mix)
	}()
	return func() {
		cancel()
		<-done
	}
}
