// Package control is an agent's control API: an HTTP endpoint through
// which "vscope dpg deploy" adds, changes and removes the watch operators
// (dpg/watch) of a running agent process, and through which watch nodes
// send each other summaries and raw windows. Operators only read the
// agent's counters, so none of this restarts the agent or touches its
// events.
//
// Every request but GET /healthz needs "Authorization: Bearer TOKEN".
// Management takes the agent's control token (a file or
// $VSCOPE_CONTROL_TOKEN, at least 16 characters, never logged); the data
// plane takes the control token or the key of the deployment the target
// operator belongs to, so a watch node never holds another agent's control
// token. Tokens are compared in constant time (their SHA-256 digests). A
// missing, malformed or wrong token gets 401 with a message saying which,
// is counted in GET /v1/status, and is logged (at most once a second)
// with the client's address, never with what it sent.
//
// The endpoint binds 127.0.0.1 unless an address with a host is given. Its
// URL can be written to a file once it listens (--control-addr-file), so
// that tests and inventories find an agent started on port 0.
//
//	GET    /healthz                          ok (no token)
//	GET    /v1/status                        host, agents, auth failures, every operator's status
//	GET    /v1/operators                     every operator's status
//	GET    /v1/operators/{id}                one operator (a root: its findings)
//	PUT    /v1/operators/{id}                add (201) or change (200) from a watch.Spec
//	DELETE /v1/operators/{id}                remove (200 with the final status; 404)
//	DELETE /v1/operators?deployment=NAME     remove a deployment's operators
//	POST   /v1/operators/{id}/{kind}         data plane: summary, raw, samples
//
// Errors are JSON {"error": "..."} naming the field or operator at fault:
// 400 bad spec or message, 401 token, 404 no such operator, 405 method,
// 413 body too large.
package control
