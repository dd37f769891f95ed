package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// ChannelConfig is the configuration of a jetstream channel.
type ChannelConfig struct {
	// Servers are NATS URLs (nats://host:4222), comma- or blank-separated.
	Servers string `prop:"servers,required"`
	// Stream, Subject and Durable name the queue: default
	// VSCOPE_<agent>_<channel>, vscope.<agent>.<channel> and vscope. Agents
	// that set the same three share one queue.
	Stream  string `prop:"stream"`
	Subject string `prop:"subject"`
	Durable string `prop:"durable"`
	// Replicas is how many NATS servers keep each message (1; 3 or 5 in
	// a cluster). Storage is file or memory.
	Replicas int    `prop:"replicas"`
	Storage  string `prop:"storage"`
	// Capacity bounds the messages in the stream (1000000), ByteCapacity
	// its bytes (0: no bound). A put that does not fit waits up to
	// keep-alive seconds (3), then fails as the channel full.
	Capacity     int   `prop:"capacity"`
	ByteCapacity int64 `prop:"byteCapacity"`
	KeepAlive    int   `prop:"keep-alive"`
	// TxCapacity bounds the events of one put or take (1000).
	TxCapacity int `prop:"transactionCapacity"`
	// AckWait is milliseconds a take may stay open before JetStream
	// delivers its messages again (30000). MaxPending bounds the messages
	// taken and not yet committed, across every taker (10000).
	AckWait    int64 `prop:"ackWait"`
	MaxPending int   `prop:"maxPending"`
	// CreateStream creates the stream and consumer, or updates them to
	// this configuration (true). With false they must exist.
	CreateStream bool `prop:"createStream"`
	// ConnectTimeout and RequestTimeout are milliseconds (5000, 10000):
	// RequestTimeout bounds waiting for a put's acknowledgements.
	ConnectTimeout int64 `prop:"connect-timeout"`
	RequestTimeout int64 `prop:"request-timeout"`
	// Authentication and TLS: user/password, token, or a .creds file;
	// tls.ca, tls.cert, tls.key are PEM files.
	User        string `prop:"user"`
	Password    string `prop:"password"`
	Token       string `prop:"token"`
	Credentials string `prop:"credentials"`
	TLSCA       string `prop:"tls.ca"`
	TLSCert     string `prop:"tls.cert"`
	TLSKey      string `prop:"tls.key"`
}

// NewChannelConfig returns the defaults.
func NewChannelConfig() *ChannelConfig {
	return &ChannelConfig{
		Durable:        "vscope",
		Replicas:       1,
		Storage:        "file",
		Capacity:       1000000,
		KeepAlive:      3,
		TxCapacity:     1000,
		AckWait:        30000,
		MaxPending:     10000,
		CreateStream:   true,
		ConnectTimeout: 5000,
		RequestTimeout: 10000,
	}
}

// TransactionCapacity implements component.TxCapacity.
func (c *ChannelConfig) TransactionCapacity() int { return c.TxCapacity }

// Validate checks the configuration; every problem is reported.
func (c *ChannelConfig) Validate() error {
	var errs []error
	if len(splitServers(c.Servers)) == 0 {
		errs = append(errs, errors.New("servers must name at least one NATS URL"))
	}
	if c.Stream != "" {
		if err := checkName("stream", c.Stream); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Subject != "" {
		if err := checkSubject(c.Subject); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkName("durable", c.Durable); err != nil {
		errs = append(errs, err)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas must be 1 to 5, got %d", c.Replicas))
	}
	if s := strings.ToLower(c.Storage); s != "file" && s != "memory" {
		errs = append(errs, fmt.Errorf("storage must be file or memory, got %q", c.Storage))
	}
	switch {
	case c.Capacity <= 0:
		errs = append(errs, fmt.Errorf("capacity must be positive, got %d", c.Capacity))
	case c.TxCapacity <= 0:
		errs = append(errs, fmt.Errorf("transactionCapacity must be positive, got %d", c.TxCapacity))
	case c.TxCapacity > c.Capacity:
		errs = append(errs, fmt.Errorf("transactionCapacity %d exceeds capacity %d", c.TxCapacity, c.Capacity))
	case c.MaxPending < c.TxCapacity:
		errs = append(errs, fmt.Errorf("maxPending %d is below transactionCapacity %d: a full take could never be fetched", c.MaxPending, c.TxCapacity))
	}
	if c.ByteCapacity < 0 || c.KeepAlive < 0 {
		errs = append(errs, errors.New("byteCapacity and keep-alive must not be negative"))
	}
	if c.AckWait <= 0 || c.ConnectTimeout <= 0 || c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("ackWait, connect-timeout and request-timeout must be positive (milliseconds)"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls.cert and tls.key go together"))
	}
	if n := btoi(c.User != "") + btoi(c.Token != "") + btoi(c.Credentials != ""); n > 1 {
		errs = append(errs, errors.New("set one of user/password, token or credentials"))
	}
	return errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// names fills the stream, subject and durable defaults for a channel of
// agent.
func (c *ChannelConfig) names(agent, channel string) (stream, subject, durable string) {
	stream, subject = c.Stream, c.Subject
	if stream == "" {
		stream = "VSCOPE_" + sanitize(agent) + "_" + sanitize(channel)
	}
	if subject == "" {
		subject = "vscope." + sanitize(agent) + "." + sanitize(channel)
	}
	return stream, subject, c.Durable
}

func (c *ChannelConfig) conn(name string) connConfig {
	return connConfig{
		Servers: splitServers(c.Servers), User: c.User, Password: c.Password, Token: c.Token,
		Credentials: c.Credentials, CA: c.TLSCA, Cert: c.TLSCert, Key: c.TLSKey,
		ConnectTimeout: time.Duration(c.ConnectTimeout) * time.Millisecond, Name: name,
	}
}

// held is a taken message and its event.
type held struct {
	msg js.Msg
	ev  event.Event
}

// Channel is the jetstream channel. It connects at Start, or at the first
// Put or Take before Start (so a reload can move events into it).
//
// mu protects the fields below it; it is not held across network calls.
type Channel struct {
	cfg                      ChannelConfig
	stream, subject, durable string
	conn                     connConfig
	counter                  *monitor.ChannelCounter
	log                      *slog.Logger

	mu      sync.Mutex
	nc      *nats.Conn
	j       js.JetStream
	cons    js.Consumer
	size    int           // messages in the stream, last seen plus puts minus commits
	data    chan struct{} // closed when events may be available; replaced after
	stopped bool
	// returned holds rolled-back messages, oldest first: the next takes
	// hand them out before fetching, so a rollback keeps the order (a nak
	// would let later messages overtake them). They stay unacknowledged at
	// the server, kept alive with in-progress notes; Stop naks them.
	returned []held
	touched  time.Time     // last in-progress note for returned
	quit     chan struct{} // closes the size poller
	wg       sync.WaitGroup
}

// NewChannel builds a jetstream channel.
func NewChannel(set component.ChannelSettings, cfg ChannelConfig) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Counter == nil {
		set.Counter = monitor.NewRegistry(set.Agent).Channel(set.Name, set.Type)
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Channel{cfg: cfg, counter: set.Counter, log: set.Logger, data: make(chan struct{})}
	c.stream, c.subject, c.durable = cfg.names(set.Agent, set.Name)
	c.conn = cfg.conn("vscope " + set.Agent + "/" + set.Name)
	c.counter.SetCapacity(cfg.Capacity)
	return c, nil
}

// Names are the stream, subject and durable consumer of the channel.
func (c *Channel) Names() (stream, subject, durable string) { return c.stream, c.subject, c.durable }

// SharesStorage reports whether other is a jetstream channel on the same
// servers and stream: a reload then keeps the events where they are.
func (c *Channel) SharesStorage(other component.Channel) bool {
	o, ok := other.(*Channel)
	return ok && o.stream == c.stream && slices.Equal(o.conn.Servers, c.conn.Servers)
}

// Durable reports that the channel's events survive a restart of the
// agent: its shutdown does not wait for them to be drained.
func (c *Channel) Durable() bool { return true }

// Start connects and creates (or updates) the stream and the consumer.
func (c *Channel) Start(ctx context.Context, _ component.Host) error {
	c.mu.Lock()
	c.stopped = false
	c.mu.Unlock()
	if _, _, err := c.open(ctx); err != nil {
		return err
	}
	c.counter.MarkStarted()
	return nil
}

// open connects if needed and returns the JetStream handle and consumer.
func (c *Channel) open(ctx context.Context) (js.JetStream, js.Consumer, error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, nil, component.ErrStopped
	}
	if c.nc != nil {
		j, cons := c.j, c.cons
		c.mu.Unlock()
		return j, cons, nil
	}
	c.mu.Unlock()
	nc, j, err := c.conn.connect()
	if err != nil {
		return nil, nil, err
	}
	cons, size, err := c.setup(ctx, j)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil || c.stopped { // lost a race with another open, or stopped meanwhile
		nc.Close()
		if c.stopped {
			return nil, nil, component.ErrStopped
		}
		return c.j, c.cons, nil
	}
	c.nc, c.j, c.cons, c.size = nc, j, cons, size
	c.counter.SetSize(size)
	c.quit = make(chan struct{})
	c.wg.Add(1)
	go c.poll(c.quit, cons)
	c.log.Info("jetstream channel connected", "servers", strings.Join(c.conn.Servers, ","),
		"stream", c.stream, "subject", c.subject, "durable", c.durable, "messages", size)
	return j, cons, nil
}

func (c *Channel) setup(ctx context.Context, j js.JetStream) (js.Consumer, int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.RequestTimeout)*time.Millisecond)
	defer cancel()
	var st js.Stream
	var err error
	if c.cfg.CreateStream {
		storage := js.FileStorage
		if strings.EqualFold(c.cfg.Storage, "memory") {
			storage = js.MemoryStorage
		}
		maxBytes := c.cfg.ByteCapacity
		if maxBytes == 0 {
			maxBytes = -1
		}
		st, err = j.CreateOrUpdateStream(ctx, js.StreamConfig{
			Name:      c.stream,
			Subjects:  []string{c.subject},
			Retention: js.WorkQueuePolicy,
			Discard:   js.DiscardNew,
			MaxMsgs:   int64(c.cfg.Capacity),
			MaxBytes:  maxBytes,
			Storage:   storage,
			Replicas:  c.cfg.Replicas,
		})
	} else {
		st, err = j.Stream(ctx, c.stream)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", c.stream, err)
	}
	ccfg := js.ConsumerConfig{
		Durable:       c.durable,
		AckPolicy:     js.AckExplicitPolicy,
		AckWait:       time.Duration(c.cfg.AckWait) * time.Millisecond,
		MaxAckPending: c.cfg.MaxPending,
		FilterSubject: c.subject,
		DeliverPolicy: js.DeliverAllPolicy,
		MaxDeliver:    -1,
		Replicas:      c.cfg.Replicas,
	}
	var cons js.Consumer
	if c.cfg.CreateStream {
		cons, err = st.CreateOrUpdateConsumer(ctx, ccfg)
	} else {
		cons, err = st.Consumer(ctx, c.durable)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("consumer %s of stream %s: %w", c.durable, c.stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", c.stream, err)
	}
	return cons, int(info.State.Msgs), nil
}

// poll refreshes the size every second and, every 200 ms, wakes takers
// when the consumer has messages pending (put by other agents).
func (c *Channel) poll(quit chan struct{}, cons js.Consumer) {
	defer c.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.size = int(info.NumPending) + info.NumAckPending
		c.counter.SetSize(c.size)
		if info.NumPending > 0 || len(c.returned) > 0 {
			c.signalLocked()
		}
		var touch []held
		if len(c.returned) > 0 && time.Since(c.touched) > time.Duration(c.cfg.AckWait)*time.Millisecond/3 {
			touch, c.touched = slices.Clone(c.returned), time.Now()
		}
		c.mu.Unlock()
		for _, h := range touch {
			_ = h.msg.InProgress()
		}
	}
}

func (c *Channel) signalLocked() {
	close(c.data)
	c.data = make(chan struct{})
}

// Stop closes the connection. Takes not committed are delivered again
// after ackWait. Safe without Start and twice.
func (c *Channel) Stop(context.Context) error {
	c.mu.Lock()
	c.stopped = true
	nc, quit, returned := c.nc, c.quit, c.returned
	c.nc, c.j, c.cons, c.quit, c.returned = nil, nil, nil, nil, nil
	c.mu.Unlock()
	if quit != nil {
		close(quit)
	}
	c.wg.Wait()
	for _, h := range returned {
		_ = h.msg.Nak() // delivered again, to whoever takes next
	}
	if nc != nil {
		// Drain delivers what was published and acked so far.
		_ = nc.FlushTimeout(time.Second)
		nc.Close()
		c.counter.MarkStopped()
	}
	return nil
}

// Notify implements component.Channel.
func (c *Channel) Notify() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data
}

// Put publishes batch and returns once JetStream stored every message. A
// batch that does not fit waits up to keep-alive for room, then fails with
// component.ErrChannelFull.
func (c *Channel) Put(ctx context.Context, batch []event.Event) error {
	n := len(batch)
	c.counter.EventPutAttempt.Add(n)
	if n == 0 {
		return nil
	}
	if n > c.cfg.TxCapacity {
		return fmt.Errorf("%w: %d events, transactionCapacity %d", component.ErrTooLarge, n, c.cfg.TxCapacity)
	}
	j, _, err := c.open(ctx)
	if err != nil {
		return err
	}
	if err := c.waitRoom(ctx, n); err != nil {
		return err
	}
	timeout := time.Duration(c.cfg.RequestTimeout) * time.Millisecond
	if err := publishAll(ctx, j, c.subject, c.stream, batch, timeout); err != nil {
		if isFull(err) {
			return fmt.Errorf("%w: stream %s: %v", component.ErrChannelFull, c.stream, err)
		}
		return fmt.Errorf("put into stream %s: %w", c.stream, err)
	}
	c.mu.Lock()
	c.size += n
	c.counter.SetSize(c.size)
	c.signalLocked()
	c.mu.Unlock()
	c.counter.EventPutSuccess.Add(n)
	return nil
}

// waitRoom waits until the stream (as last seen) has room for n more
// messages, at most keep-alive.
func (c *Channel) waitRoom(ctx context.Context, n int) error {
	deadline := time.Now().Add(time.Duration(c.cfg.KeepAlive) * time.Second)
	for {
		c.mu.Lock()
		room := c.size+n <= c.cfg.Capacity
		c.mu.Unlock()
		if room {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: stream %s holds %d of %d messages", component.ErrChannelFull, c.stream, c.size, c.cfg.Capacity)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Take fetches up to max available messages without waiting.
func (c *Channel) Take(ctx context.Context, max int) (component.Take, error) {
	max = min(max, c.cfg.TxCapacity)
	if max <= 0 {
		return &take{c: c}, nil
	}
	_, cons, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	c.counter.EventTakeAttempt.Add(max)
	c.mu.Lock()
	if k := min(max, len(c.returned)); k > 0 {
		t := &take{c: c}
		for _, h := range c.returned[:k] {
			t.msgs = append(t.msgs, h.msg)
			t.events = append(t.events, h.ev)
		}
		c.returned = slices.Delete(c.returned, 0, k)
		c.mu.Unlock()
		c.counter.EventTakeSuccess.Add(k)
		return t, nil
	}
	c.mu.Unlock()
	msgs, events, err := fetch(cons, max, c.log)
	if err != nil {
		return nil, fmt.Errorf("take from stream %s: %w", c.stream, err)
	}
	c.counter.EventTakeSuccess.Add(len(events))
	return &take{c: c, msgs: msgs, events: events}, nil
}

// fetch takes up to max messages that are available now. A message that
// does not decode is terminated (never delivered again) and logged.
func fetch(cons js.Consumer, max int, log *slog.Logger) ([]js.Msg, []event.Event, error) {
	batch, err := cons.FetchNoWait(max)
	if err != nil {
		return nil, nil, err
	}
	var msgs []js.Msg
	var events []event.Event
	for m := range batch.Messages() {
		e, err := toEvent(m.Data(), m.Headers())
		if err != nil {
			log.Warn("jetstream message dropped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		msgs = append(msgs, m)
		events = append(events, e)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, js.ErrNoMessages) {
		for _, m := range msgs {
			_ = m.Nak()
		}
		return nil, nil, err
	}
	return msgs, events, nil
}

// take is an open take: its messages are acked on Commit, naked on
// Rollback.
type take struct {
	c      *Channel
	msgs   []js.Msg
	events []event.Event
	done   bool
}

func (t *take) Events() []event.Event { return t.events }

// Commit acknowledges every message and waits until the server has the
// acknowledgements.
func (t *take) Commit() error {
	if t.done {
		return component.ErrTxDone
	}
	t.done = true
	if len(t.msgs) == 0 {
		return nil
	}
	if err := finish(t.c.connection(), t.msgs, js.Msg.Ack); err != nil {
		return fmt.Errorf("commit take of %d messages: %w", len(t.msgs), err)
	}
	t.c.mu.Lock()
	t.c.size = max(0, t.c.size-len(t.msgs))
	t.c.counter.SetSize(t.c.size)
	t.c.mu.Unlock()
	return nil
}

// Rollback returns the events to the head of the channel, in order: the
// next take gets them first. If the channel was stopped meanwhile they are
// naked, so JetStream delivers them again.
func (t *take) Rollback() error {
	if t.done {
		return component.ErrTxDone
	}
	t.done = true
	if len(t.msgs) == 0 {
		return nil
	}
	t.c.counter.EventRollback.Add(len(t.msgs))
	c := t.c
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		if err := finish(nil, t.msgs, js.Msg.Nak); err != nil && !errors.Is(err, component.ErrStopped) {
			return fmt.Errorf("roll back take of %d messages: %w", len(t.msgs), err)
		}
		return nil
	}
	back := make([]held, len(t.msgs), len(t.msgs)+len(c.returned))
	for i := range t.msgs {
		back[i] = held{t.msgs[i], t.events[i]}
	}
	c.returned = append(back, c.returned...)
	c.signalLocked()
	c.mu.Unlock()
	for _, m := range t.msgs {
		_ = m.InProgress() // restart their ack wait
	}
	return nil
}

func (c *Channel) connection() *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

// finish acks or naks msgs, then flushes so the server has them.
func finish(nc *nats.Conn, msgs []js.Msg, f func(js.Msg) error) error {
	for _, m := range msgs {
		if err := f(m); err != nil {
			return err
		}
	}
	if nc == nil {
		return component.ErrStopped
	}
	return nc.FlushTimeout(5 * time.Second)
}

// ChannelFactory is the factory of `type = jetstream`.
func ChannelFactory() component.ChannelFactory {
	return component.ChannelFactory{
		Type:      "jetstream",
		NewConfig: func() component.Config { return NewChannelConfig() },
		Create: func(set component.ChannelSettings, cfg component.Config) (component.Channel, error) {
			return NewChannel(set, *cfg.(*ChannelConfig))
		},
	}
}
