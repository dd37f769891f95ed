package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vscope/vscope/dpg/watch"
)

// Client calls one agent's control API.
type Client struct {
	URL   string // http://HOST:PORT
	token string
	hc    *http.Client
}

// NewClient returns a client of the endpoint at url with token; hc nil
// means a client with a 10 s timeout.
func NewClient(url, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{URL: strings.TrimRight(url, "/"), token: token, hc: hc}
}

// APIError is an answer other than 2xx: the status and the server's
// message.
type APIError struct {
	Code    int
	Message string
}

// Error is "CODE Status text: message".
func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Code: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*StatusResponse, error) {
	var s StatusResponse
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Put adds or changes the operator id.
func (c *Client) Put(ctx context.Context, id string, spec *watch.Spec) (*watch.Status, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var st watch.Status
	return &st, c.do(ctx, http.MethodPut, watch.OperatorPath(id), b, &st)
}

// Operator is GET /v1/operators/{id}.
func (c *Client) Operator(ctx context.Context, id string) (*watch.Status, error) {
	var st watch.Status
	return &st, c.do(ctx, http.MethodGet, watch.OperatorPath(id), nil, &st)
}

// Delete removes the operator id.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, watch.OperatorPath(id), nil, nil)
}

// DeleteDeployment removes every operator of a deployment.
func (c *Client) DeleteDeployment(ctx context.Context, name string) ([]string, error) {
	var r DeleteResponse
	err := c.do(ctx, http.MethodDelete, "/v1/operators?deployment="+url.QueryEscape(name), nil, &r)
	return r.Removed, err
}
