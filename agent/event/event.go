package event

// Event is one record moving through a flow: Flume's headers plus body.
// Events are passed by value inside batches so a batch is one allocation.
type Event struct {
	Headers map[string]string
	Body    []byte
}

// headerOverhead approximates per-header bookkeeping (map entry, string
// headers) so byte accounting does not under-count header-heavy events.
const headerOverhead = 16

// Size is the number of bytes the event holds: body plus header keys and
// values. Channels use it for byteCapacity accounting.
func (e *Event) Size() int {
	n := len(e.Body)
	if len(e.Headers) == 0 { // ranging over even an empty map costs
		return n
	}
	for k, v := range e.Headers {
		n += len(k) + len(v) + headerOverhead
	}
	return n
}

// Clone returns a deep copy of e, so the copy shares no memory with it.
func (e *Event) Clone() Event {
	c := Event{Body: append([]byte(nil), e.Body...)}
	if e.Headers != nil {
		c.Headers = make(map[string]string, len(e.Headers))
		for k, v := range e.Headers {
			c.Headers[k] = v
		}
	}
	return c
}

// Size is the total Size of a batch.
func Size(batch []Event) int {
	n := 0
	for i := range batch {
		n += batch[i].Size()
	}
	return n
}
