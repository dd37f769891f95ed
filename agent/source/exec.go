package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// ExecConfig is the configuration of an exec source (Flume's ExecSource),
// with Flume's property names and defaults. Durations are in milliseconds,
// as in Flume.
type ExecConfig struct {
	// Command is the command to run, split at white space into the program
	// and its arguments (no quoting, as in Flume). Required.
	Command string `prop:"command,required"`
	// Shell, when set, runs Command through a shell: Shell split at white
	// space, then Command as one argument, e.g. "/bin/sh -c". Needed for
	// pipes, wildcards, redirections. Default: none.
	Shell string `prop:"shell"`
	// Restart runs the command again when it ends. Default false.
	Restart bool `prop:"restart"`
	// RestartThrottle (ms) is the wait before a restart. Default 10000.
	RestartThrottle int64 `prop:"restartThrottle"`
	// Batch is the most lines put as one batch. Default 20.
	Batch int `prop:"batchSize"`
	// BatchTimeout (ms) is the longest a line waits for its batch to fill
	// before the batch is put anyway. Default 3000.
	BatchTimeout int64 `prop:"batchTimeout"`
	// LogStdErr logs each line the command writes to stderr (at INFO, as
	// Flume). Default false: stderr is discarded.
	LogStdErr bool `prop:"logStdErr"`
	// Charset is the encoding of the command's output: UTF-8 (default),
	// ISO-8859-1 or US-ASCII. Event bodies are UTF-8; malformed input is
	// replaced by U+FFFD, as Java's reader does in Flume.
	Charset string `prop:"charset"`
	// MaxLineLength is a vscope extension: the longest event body, in
	// bytes. A longer line is split into events of at most this many
	// bytes, counted once in EventReadFail and logged. Default 1 MiB.
	MaxLineLength int `prop:"maxLineLength"`
}

// NewExecConfig returns Flume's defaults.
func NewExecConfig() *ExecConfig {
	return &ExecConfig{RestartThrottle: 10000, Batch: 20, BatchTimeout: 3000, Charset: "UTF-8", MaxLineLength: 1 << 20}
}

// Validate checks the command and the bounds.
func (c *ExecConfig) Validate() error {
	_, err := parseCharset(c.Charset)
	switch {
	case len(strings.Fields(c.Command)) == 0:
		return errors.New("command must not be empty")
	case c.RestartThrottle < 0:
		return fmt.Errorf("restartThrottle must not be negative, got %d", c.RestartThrottle)
	case c.Batch <= 0:
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	case c.BatchTimeout <= 0:
		return fmt.Errorf("batchTimeout must be positive, got %d", c.BatchTimeout)
	case err != nil:
		return err
	case c.MaxLineLength <= 0:
		return fmt.Errorf("maxLineLength must be positive, got %d", c.MaxLineLength)
	}
	return nil
}

// BatchSize implements component.BatchSizer.
func (c *ExecConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *ExecConfig) SetBatchSize(n int) { c.Batch = n }

// args is the program and arguments to run.
func (c *ExecConfig) args() []string {
	if sh := strings.Fields(c.Shell); len(sh) > 0 {
		return append(sh, c.Command)
	}
	return strings.Fields(c.Command)
}

// execKillGrace is how long a command may take to exit after SIGTERM when
// the source stops, before it is killed.
const execKillGrace = 5 * time.Second

// Exec is an event-driven source that runs a command and turns each line
// of its standard output into an event, like Flume's exec source.
//
// Lines end with "\n" (a '\r' before it is stripped); a last line without
// a newline is delivered when the command ends. Lines are put in batches
// of batchSize, or sooner when a line has waited batchTimeout. The command
// runs in its own process group with standard input from /dev/null; when
// it ends, its exit status is logged and, with restart, it runs again
// after restartThrottle. A command that cannot be started is counted
// (GenericProcessingFail) and logged, and retried the same way.
//
// Unlike Flume, which drops a batch the channel refuses (and, with
// restart, restarts the command), the source retries the put with
// back-off and meanwhile stops reading, so a full channel slows the
// command down through its pipe instead of losing lines. Exec gives no
// delivery guarantee across a stop: lines the command wrote but that were
// not committed when the source stops are lost, as in Flume.
//
// Stop sends SIGTERM to the command's process group, delivers what the
// command wrote until it exited, and sends SIGKILL after 5 s or when the
// ctx of Stop ends.
type Exec struct {
	cfg  ExecConfig
	set  component.SourceSettings
	cs   charset
	args []string

	mu  sync.Mutex // protects run
	run *execRun   // nil when not running
}

// execRun is one Start..Stop of an Exec.
type execRun struct {
	src    *Exec
	ctx    context.Context // of puts; cancelled when Stop runs out of time
	cancel context.CancelFunc
	quit   chan struct{} // closed when Stop begins
	done   chan struct{} // closed when the run loop returned
	warn   *logLimiter

	mu      sync.Mutex  // protects proc and pipes
	proc    *os.Process // the running command, or nil
	pipes   []io.Closer // its stdout and stderr readers
	killed  bool        // the group got SIGKILL; no new command starts
	retries []event.Event
}

// NewExec builds an exec source. set.Processor is required; a nil Logger
// or Counter is replaced by a discarding logger or private counters.
func NewExec(set component.SourceSettings, cfg ExecConfig) (*Exec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("exec: no processor")
	}
	cs, _ := parseCharset(cfg.Charset)
	return &Exec{cfg: cfg, set: withDefaults(set), cs: cs, args: cfg.args()}, nil
}

// Start starts the command in the background. A command that cannot be
// started is logged and counted, not returned: it is retried when restart
// is set, as in Flume.
func (e *Exec) Start(context.Context, component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run != nil {
		return errors.New("exec: already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &execRun{src: e, ctx: ctx, cancel: cancel, quit: make(chan struct{}), done: make(chan struct{}),
		warn: newLogLimiter(e.set.Logger, 5*time.Second)}
	e.run = r
	e.set.Counter.MarkStarted()
	go r.loop()
	return nil
}

// Stop stops the command (SIGTERM to its process group, SIGKILL after 5 s
// or when ctx ends), puts what it wrote until then and returns after every
// goroutine of the source ended. Safe without Start and twice.
func (e *Exec) Stop(ctx context.Context) error {
	e.mu.Lock()
	r := e.run
	e.run = nil
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	close(r.quit)
	r.signal(syscall.SIGTERM)
	grace := time.NewTimer(execKillGrace)
	defer grace.Stop()
	var err error
wait:
	for {
		select {
		case <-r.done:
			break wait
		case <-grace.C:
			r.kill() // and keep waiting for the put of what it wrote
		case <-ctx.Done():
			err = fmt.Errorf("exec: stop: %w", ctx.Err())
			r.cancel()
			r.kill()
			<-r.done
			break wait
		}
	}
	r.cancel()
	e.set.Counter.MarkStopped()
	return err
}

// signal sends sig to the command's process group.
func (r *execRun) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		_ = syscall.Kill(-r.proc.Pid, sig)
	}
}

// kill sends SIGKILL to the command's group and closes its pipes, so that
// readers blocked on a pipe a stray process still holds return too.
func (r *execRun) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killed = true
	if r.proc != nil {
		_ = syscall.Kill(-r.proc.Pid, syscall.SIGKILL)
	}
	for _, p := range r.pipes {
		_ = p.Close()
	}
}

func (r *execRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

func (r *execRun) loop() {
	defer close(r.done)
	throttle := time.Duration(r.src.cfg.RestartThrottle) * time.Millisecond
	for {
		r.runOnce()
		if !r.src.cfg.Restart || r.stopping() {
			return
		}
		t := time.NewTimer(throttle)
		select {
		case <-r.quit:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// runOnce runs the command until it ends and its output is put.
func (r *execRun) runOnce() {
	e := r.src
	log := e.set.Logger
	cmd := exec.Command(e.args[0], e.args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.set.Counter.GenericProcessFail.Inc()
		log.Error("exec: cannot create a pipe", "err", err)
		return
	}
	var stderr io.ReadCloser
	if e.cfg.LogStdErr {
		if stderr, err = cmd.StderrPipe(); err != nil {
			_ = stdout.Close()
			e.set.Counter.GenericProcessFail.Inc()
			log.Error("exec: cannot create a pipe", "err", err)
			return
		}
	}
	r.mu.Lock()
	if r.killed || r.stopping() {
		r.mu.Unlock()
		return
	}
	err = cmd.Start()
	if err == nil {
		r.proc = cmd.Process
		r.pipes = []io.Closer{stdout}
		if stderr != nil {
			r.pipes = append(r.pipes, stderr)
		}
	}
	r.mu.Unlock()
	if err != nil {
		e.set.Counter.GenericProcessFail.Inc()
		log.Error("exec: cannot start the command", "command", strings.Join(e.args, " "), "err", err)
		return
	}
	log.Info("exec command started", "command", strings.Join(e.args, " "), "pid", cmd.Process.Pid)

	var wg sync.WaitGroup
	if stderr != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.logStderr(stderr)
		}()
	}
	chunks := make(chan []event.Event, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.read(stdout, chunks)
	}()
	r.batch(chunks)
	wg.Wait()
	err = cmd.Wait()
	r.mu.Lock()
	r.proc, r.pipes = nil, nil
	r.mu.Unlock()
	code := cmd.ProcessState.ExitCode()
	switch {
	case code == 0:
		log.Info("exec command exited", "command", strings.Join(e.args, " "), "code", code)
	case r.stopping():
		log.Info("exec command stopped", "command", strings.Join(e.args, " "), "status", cmd.ProcessState.String())
	default:
		log.Warn("exec command failed", "command", strings.Join(e.args, " "), "status", cmd.ProcessState.String(), "err", err)
	}
}

// read cuts the command's output into lines and sends them, as events,
// in chunks of whatever one read returned. It closes out at the end.
func (r *execRun) read(rd io.Reader, out chan<- []event.Event) {
	defer close(out)
	e := r.src
	lr := lineReader{max: e.cfg.MaxLineLength, stripCR: true, initial: 64 << 10}
	var ends []int
	for {
		_, err := lr.fill(rd.Read)
		var slab []byte
		ends = ends[:0]
		for {
			line, split, ok := lr.next()
			if !ok {
				break
			}
			if split {
				e.set.Counter.EventReadFail.Inc()
				r.warn.log("exec line exceeds maxLineLength; split into several events", "maxLineLength", e.cfg.MaxLineLength)
			}
			var malformed bool
			if slab, malformed = decodeText(slab, line, e.cs, decodeReplace); malformed {
				r.warn.log("exec output is not valid " + e.cfg.Charset + "; malformed bytes replaced by U+FFFD")
			}
			ends = append(ends, len(slab))
		}
		if err != nil {
			if rest := lr.rest(); len(rest) > 0 {
				var malformed bool
				if slab, malformed = decodeText(slab, rest, e.cs, decodeReplace); malformed {
					r.warn.log("exec output is not valid " + e.cfg.Charset + "; malformed bytes replaced by U+FFFD")
				}
				ends = append(ends, len(slab))
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				e.set.Counter.GenericProcessFail.Inc()
				r.warn.log("exec: reading the command's output failed", "err", err)
			}
		}
		if len(ends) > 0 {
			evs := make([]event.Event, len(ends))
			prev := 0
			for i, end := range ends {
				evs[i] = event.Event{Body: slab[prev:end:end]}
				prev = end
			}
			out <- evs
		}
		if err != nil {
			return
		}
	}
}

// logStderr logs each line of the command's standard error.
func (r *execRun) logStderr(rd io.Reader) {
	e := r.src
	lr := lineReader{max: 64 << 10, stripCR: true, initial: 4096}
	n := 0
	for {
		_, err := lr.fill(rd.Read)
		for {
			line, _, ok := lr.next()
			if !ok {
				break
			}
			n++
			e.set.Logger.Info("exec stderr", "n", n, "line", string(line))
		}
		if err != nil {
			if rest := lr.rest(); len(rest) > 0 {
				n++
				e.set.Logger.Info("exec stderr", "n", n, "line", string(rest))
			}
			return
		}
	}
}

// batch collects lines into batches of batchSize, putting a partial batch
// after batchTimeout, until chunks is closed; then it puts the rest.
func (r *execRun) batch(chunks <-chan []event.Event) {
	size := r.src.cfg.Batch
	timeout := time.Duration(r.src.cfg.BatchTimeout) * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		pending []event.Event
		timerC  <-chan time.Time
	)
	for {
		select {
		case chunk, ok := <-chunks:
			if !ok {
				r.flush(pending)
				return
			}
			pending = append(pending, chunk...)
			for len(pending) >= size {
				r.flush(pending[:size])
				n := copy(pending, pending[size:])
				clear(pending[n:])
				pending = pending[:n]
			}
			switch {
			case len(pending) == 0 && timerC != nil:
				timer.Stop()
				timerC = nil
			case len(pending) > 0 && timerC == nil:
				timer.Reset(timeout)
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			r.flush(pending)
			clear(pending)
			pending = pending[:0]
		}
	}
}

// flush puts evs, retrying with back-off until it is committed or the
// source is stopped for good (its put context cancelled). Interceptors
// may change a batch in place, so each attempt starts from a copy.
func (r *execRun) flush(evs []event.Event) {
	if len(evs) == 0 {
		return
	}
	r.retries = append(r.retries[:0], evs...)
	defer clear(r.retries)
	wait := 250 * time.Millisecond
	for {
		err := deliver(r.ctx, &r.src.set, evs)
		if err == nil {
			return
		}
		if r.ctx.Err() != nil {
			r.src.set.Logger.Error("exec: lines lost: the source stopped before the channel took them", "events", len(evs), "err", err)
			return
		}
		r.warn.log("exec put failed; retrying", "events", len(evs), "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, 5*time.Second)
		copy(evs, r.retries)
	}
}

// ExecFactory is the factory of `type = exec`.
func ExecFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "exec",
		Aliases:   []string{"org.apache.flume.source.ExecSource"},
		NewConfig: func() component.Config { return NewExecConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewExec(set, *cfg.(*ExecConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
