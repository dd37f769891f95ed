package wal

// span is a run of queued events of one put record: events [first, last)
// of the n events of the record at off in segment seg, whose payload is
// len bytes. The queue is a sequence of spans, so a batch of a hundred
// events costs one entry.
type span struct {
	seg   uint32
	n     uint32
	first uint32
	last  uint32
	len   uint32
	off   int64
}

func (s span) events() int { return int(s.last - s.first) }

// sameRecord reports whether a and b are parts of one record.
func (s span) sameRecord(o span) bool { return s.seg == o.seg && s.off == o.off }

// deque is a ring buffer of spans with pushes at both ends.
type deque struct {
	buf  []span
	head int
	n    int
}

func (d *deque) len() int { return d.n }

// at returns the i-th span from the front.
func (d *deque) at(i int) *span { return &d.buf[(d.head+i)%len(d.buf)] }

func (d *deque) front() *span { return &d.buf[d.head] }

func (d *deque) popFront() {
	d.buf[d.head] = span{}
	d.head = (d.head + 1) % len(d.buf)
	d.n--
}

func (d *deque) pushBack(s span) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)%len(d.buf)] = s
	d.n++
}

// pushFront puts s before the front, merging it with the front span when
// they are adjacent parts of one record (a rolled-back partial take).
func (d *deque) pushFront(s span) {
	if d.n > 0 {
		if f := d.front(); f.sameRecord(s) && s.last == f.first {
			f.first = s.first
			return
		}
	}
	if d.n == len(d.buf) {
		d.grow()
	}
	d.head = (d.head - 1 + len(d.buf)) % len(d.buf)
	d.buf[d.head] = s
	d.n++
}

func (d *deque) grow() {
	nb := make([]span, max(16, 2*len(d.buf)))
	for i := 0; i < d.n; i++ {
		nb[i] = *d.at(i)
	}
	d.buf, d.head = nb, 0
}
