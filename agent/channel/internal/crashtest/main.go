// Command crashtest runs a real agent (the agent runtime, its supervisor,
// Flume properties configuration and the file channel) with two test-only
// components, so a test can SIGKILL it at random moments and prove what the
// file channel promises:
//
//   - source crashseq puts batches of events whose bodies start with a
//     unique id "<source>:<run>:<seq>|". Only after the channel's Put
//     returned nil does it append "P <source> <run> <first> <last> ;" to its
//     log: the log lists exactly the committed puts (plus nothing else).
//   - sink crashverify takes a batch, appends "T <sink> <id>... ;" to its
//     log, commits the take, then appends "C <sink> ;" ("F <sink> ;" if the
//     commit failed). A T line without a C is the batch in flight at a kill.
//
// Each process appends "S <run> ;" to the take log first. Lines are
// written with one write(2) each and end in " ;", so a line torn by the
// kill is recognisable and ignored. The logs live in the page cache, which
// a SIGKILL does not lose.
//
// With -drain the process exits by itself once the channel is empty and
// every take is committed.
//
// It prints "READY queued=N replayed=N replay_ms=F checkpoint=S torn=N
// corrupt=N" once the flow is up.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

func main() {
	conf := flag.String("f", "", "Flume properties file")
	name := flag.String("n", "a1", "agent name")
	takes := flag.String("takes", "", "take log, for the start marker")
	run := flag.Int("run", 0, "run number, for the start marker")
	drain := flag.Bool("drain", false, "exit once the channel is empty")
	flag.Parse()
	if err := mainErr(*conf, *name, *takes, *run, *drain); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
}

func mainErr(conf, name, takes string, run int, drain bool) error {
	if takes != "" {
		if err := appendLine(takes, fmt.Sprintf("\nS %d ;\n", run)); err != nil {
			return err
		}
	}
	f := component.NewFactories(
		[]component.SourceFactory{seqFactory()},
		[]component.ChannelFactory{channel.FileFactory()},
		[]component.SinkFactory{verifyFactory()},
	)
	cfg, err := config.LoadFile(conf, name, f)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a := agent.New(name, f, agent.Options{
		Logger:        log,
		SourceBackoff: agent.Backoff{Increment: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		SinkBackoff:   agent.Backoff{Increment: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		Restart:       agent.Backoff{Increment: 100 * time.Millisecond, Max: time.Second},
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := a.Apply(ctx, cfg); err != nil {
		return err
	}
	ch, ok := a.Channel(cfg.Channels[0].Name).(*channel.File)
	if !ok {
		return fmt.Errorf("channel %s is not a file channel", cfg.Channels[0].Name)
	}
	st := ch.Stats()
	fmt.Printf("READY queued=%d replayed=%d replay_ms=%.1f checkpoint=%s torn=%d corrupt=%d\n",
		st.Queued, st.ReplayRecords, float64(st.ReplayTime.Microseconds())/1000, st.Checkpoint, st.TornTails, st.CorruptRecords)
	if drain {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			st := ch.Stats()
			if st.Queued == 0 && st.InFlight == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return a.Stop(context.Background())
			case <-t.C:
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			return err
		}
		fmt.Println("DRAINED")
		return nil
	}
	<-ctx.Done()
	return a.Stop(context.Background())
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// seqConfig configures the counting source.
type seqConfig struct {
	Batch int    `prop:"batchSize"`
	Body  int    `prop:"bodySize"`
	Run   int    `prop:"run"`
	Log   string `prop:"log,required"`
}

func (c *seqConfig) BatchSize() int { return c.Batch }

func seqFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "crashseq",
		NewConfig: func() component.Config { return &seqConfig{Batch: 100, Body: 64} },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			return &seqSource{set: set, cfg: *cfg.(*seqConfig)}, nil
		},
	}
}

// seqSource puts numbered events and logs each committed batch.
type seqSource struct {
	set   component.SourceSettings
	cfg   seqConfig
	log   *os.File
	next  int
	batch []event.Event // the batch being put; kept across a failed put
}

func (s *seqSource) Start(context.Context, component.Host) error {
	f, err := os.OpenFile(s.cfg.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.log = f
	return nil
}

func (s *seqSource) Stop(context.Context) error {
	if s.log != nil {
		err := s.log.Close()
		s.log = nil
		return err
	}
	return nil
}

func (s *seqSource) Process(ctx context.Context) (component.Status, error) {
	if s.batch == nil {
		s.batch = make([]event.Event, s.cfg.Batch)
		for i := range s.batch {
			id := fmt.Sprintf("%s:%d:%d|", s.set.Name, s.cfg.Run, s.next+i)
			body := make([]byte, max(s.cfg.Body, len(id)))
			copy(body, id)
			for j := len(id); j < len(body); j++ {
				body[j] = 'x'
			}
			s.batch[i] = event.Event{Body: body, Headers: map[string]string{"src": s.set.Name}}
		}
	}
	if err := s.set.Processor.Process(ctx, s.batch); err != nil {
		return component.Backoff, err
	}
	line := fmt.Sprintf("P %s %d %d %d ;\n", s.set.Name, s.cfg.Run, s.next, s.next+len(s.batch))
	if _, err := s.log.WriteString(line); err != nil {
		return component.Backoff, err
	}
	s.next += len(s.batch)
	s.batch = nil
	return component.Ready, nil
}

// verifyConfig configures the verifying sink.
type verifyConfig struct {
	Batch int    `prop:"batchSize"`
	Log   string `prop:"log,required"`
}

func (c *verifyConfig) BatchSize() int { return c.Batch }

func verifyFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "crashverify",
		NewConfig: func() component.Config { return &verifyConfig{Batch: 100} },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return &verifySink{set: set, cfg: *cfg.(*verifyConfig)}, nil
		},
	}
}

// verifySink logs each batch before committing its take, and the commit
// after.
type verifySink struct {
	set component.SinkSettings
	cfg verifyConfig
	log *os.File
}

func (s *verifySink) Start(context.Context, component.Host) error {
	f, err := os.OpenFile(s.cfg.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.log = f
	return nil
}

func (s *verifySink) Stop(context.Context) error {
	if s.log != nil {
		err := s.log.Close()
		s.log = nil
		return err
	}
	return nil
}

func (s *verifySink) Process(ctx context.Context) (component.Status, error) {
	tx, err := s.set.Channel.Take(ctx, s.cfg.Batch)
	if err != nil {
		return component.Backoff, err
	}
	evs := tx.Events()
	if len(evs) == 0 {
		return component.Backoff, tx.Commit()
	}
	var b strings.Builder
	b.WriteString("T ")
	b.WriteString(s.set.Name)
	for _, e := range evs {
		id, _, ok := strings.Cut(string(e.Body), "|")
		if !ok || e.Headers["src"] == "" {
			_ = tx.Rollback()
			return component.Backoff, fmt.Errorf("malformed event %q %v", e.Body, e.Headers)
		}
		b.WriteByte(' ')
		b.WriteString(id)
	}
	b.WriteString(" ;\n")
	if _, err := s.log.WriteString(b.String()); err != nil {
		_ = tx.Rollback()
		return component.Backoff, err
	}
	if err := tx.Commit(); err != nil {
		_, _ = s.log.WriteString("F " + s.set.Name + " ;\n")
		return component.Backoff, err
	}
	if _, err := s.log.WriteString("C " + s.set.Name + " ;\n"); err != nil {
		return component.Backoff, err
	}
	return component.Ready, nil
}
