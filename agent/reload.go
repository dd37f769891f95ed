package agent

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/vscope/vscope/agent/config"
)

// LoadAndApply reads the agent's section of the file at path and applies
// it; WatchFile compares later reads with this content. A file with errors changes nothing and returns every error.
func (a *Agent) LoadAndApply(ctx context.Context, path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return a.applyText(ctx, path, text)
}

func (a *Agent) applyText(ctx context.Context, path string, text []byte) error {
	a.fileMu.Lock()
	a.fileText = text
	a.fileMu.Unlock()
	props, err := config.Parse(bytes.NewReader(text), path)
	if err != nil {
		return err
	}
	cfg, err := config.Load(props, path, a.name, a.f, os.LookupEnv)
	if err != nil {
		return err
	}
	return a.Apply(ctx, cfg)
}

// WatchFile polls path every interval until ctx ends and applies the
// configuration whenever the file's content changes, as Flume's
// PollingPropertiesFileConfigurationProvider does (every 30 s). A changed
// file that does not validate is reported and the running flow is kept.
func (a *Agent) WatchFile(ctx context.Context, path string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := os.ReadFile(path)
		if err != nil {
			a.log.Warn("reload: cannot read configuration", "file", path, "err", err)
			continue
		}
		a.fileMu.Lock()
		same := bytes.Equal(cur, a.fileText)
		a.fileMu.Unlock()
		if same {
			continue
		}
		a.log.Info("configuration changed; reloading", "file", path)
		if err := a.applyText(ctx, path, cur); err != nil {
			a.log.Error("reload rejected; keeping the running configuration", "file", path, "err", err)
			continue
		}
		a.log.Info("reload applied", "file", path)
	}
}
