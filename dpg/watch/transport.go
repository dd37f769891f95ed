package watch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OperatorPath is the control API's path of an operator; a peer's
// messages go to OperatorPath(id) + "/" + kind.
func OperatorPath(id string) string { return "/v1/operators/" + url.PathEscape(id) }

// HTTPSender posts messages as JSON to the peer's control endpoint with
// the deployment key as bearer token.
type HTTPSender struct {
	client *http.Client
}

// NewHTTPSender sends through client; nil means a client with a 5 s
// timeout.
func NewHTTPSender(client *http.Client) *HTTPSender {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &HTTPSender{client: client}
}

// Send posts body to to.URL + OperatorPath(to.ID) + "/" + kind.
func (s *HTTPSender) Send(ctx context.Context, to Peer, kind, key string, body []byte) error {
	u := strings.TrimRight(to.URL, "/") + OperatorPath(to.ID) + "/" + kind
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// CloseIdleConnections closes the sender's idle keep-alive connections.
func (s *HTTPSender) CloseIdleConnections() { s.client.CloseIdleConnections() }
