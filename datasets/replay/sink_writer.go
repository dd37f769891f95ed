package replay

import (
	"bufio"
	"context"
	"io"
)

// WriterSink writes each record's line and a newline to W (for example
// standard output, to pipe into another tool). Every record counts as
// accepted once written.
type WriterSink struct {
	bw *bufio.Writer
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink {
	return &WriterSink{bw: bufio.NewWriterSize(w, 64<<10)}
}

// Send implements Sink; the batch is flushed before it returns.
func (s *WriterSink) Send(_ context.Context, batch []Record) error {
	for i := range batch {
		_, _ = s.bw.Write(batch[i].Line)
		if err := s.bw.WriteByte('\n'); err != nil {
			return err
		}
	}
	return s.bw.Flush()
}
