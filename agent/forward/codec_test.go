package forward

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vscope/vscope/agent/event"
)

func TestBatchRoundTrip(t *testing.T) {
	evs := makeEvents("a", 0, 50)
	evs = append(evs, event.Event{}, event.Event{Body: bytes.Repeat([]byte{0, 0xff}, 5000), Headers: map[string]string{"": ""}})
	raw := AppendBatch(nil, evs)
	size := 1
	for i := range evs {
		size += EventSize(&evs[i])
	}
	if len(raw) != size {
		t.Fatalf("EventSize sums to %d, payload is %d bytes", size, len(raw))
	}
	for codec := CodecNone; codec <= codecMax; codec++ {
		t.Run(codec.String(), func(t *testing.T) {
			comp, err := newCompressor(codec, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer comp.close()
			var cfg ClientConfig
			cfg.Codec = codec
			cfg.setDefaults()
			comp.level = cfg.Level
			p := comp.compress(nil, raw)
			if codec == CodecNone {
				p = raw
			}
			frame := AppendFrame(nil, KindBatch, codec, 7, p)
			f, n, err := DecodeFrame(frame, DefaultMaxFrame)
			if err != nil || n != len(frame) || f.Seq != 7 || f.Kind != KindBatch || f.Codec != codec {
				t.Fatalf("DecodeFrame: %+v %d %v", f.Seq, n, err)
			}
			d := &decompressor{max: DefaultMaxFrame}
			defer d.close()
			got, err := d.decompress(f.Codec, f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := DecodeBatch(got, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for i := range evs {
				if !bytes.Equal(dec[i].Body, evs[i].Body) || len(dec[i].Headers) != len(evs[i].Headers) ||
					(len(evs[i].Headers) > 0 && !reflect.DeepEqual(dec[i].Headers, evs[i].Headers)) {
					t.Fatalf("event %d: got %+v, want %+v", i, dec[i], evs[i])
				}
			}
		})
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	good := AppendFrame(nil, KindBatch, CodecNone, 1, AppendBatch(nil, makeEvents("x", 0, 3)))
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	f := func(name string, b []byte, max int, want error) {
		t.Helper()
		_, _, err := DecodeFrame(b, max)
		if !errors.Is(err, want) {
			t.Errorf("%s: error %v, want %v", name, err, want)
		}
	}
	f("garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), DefaultMaxFrame, ErrBadMagic)
	f("short garbage", []byte("GE"), DefaultMaxFrame, ErrBadMagic)
	f("version", mut(func(b []byte) { b[2] = 9 }), DefaultMaxFrame, ErrVersion)
	f("kind", mut(func(b []byte) { b[3] = 77 }), DefaultMaxFrame, ErrBadHeader)
	f("codec", mut(func(b []byte) { b[4] = 9 }), DefaultMaxFrame, ErrBadHeader)
	f("reserved", mut(func(b []byte) { b[6] = 1 }), DefaultMaxFrame, ErrBadHeader)
	f("too large", good, 10, ErrFrameTooLarge)
	f("checksum header", mut(func(b []byte) { b[9] ^= 1 }), DefaultMaxFrame, ErrChecksum)
	f("checksum payload", mut(func(b []byte) { b[len(b)-1] ^= 0x40 }), DefaultMaxFrame, ErrChecksum)
	f("truncated header", good[:10], DefaultMaxFrame, ErrTruncated)
	f("truncated payload", good[:len(good)-1], DefaultMaxFrame, ErrTruncated)
	if Reason(ErrChecksum) != "checksum" || Reason(ErrBadMagic) != "garbage" || Reason(ErrFrameTooLarge) != "too_large" {
		t.Error("Reason names")
	}
}

func TestDecodeBatchMalformed(t *testing.T) {
	f := func(name string, p []byte, maxEvents int) {
		t.Helper()
		if _, err := DecodeBatch(p, maxEvents); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
	good := AppendBatch(nil, makeEvents("x", 0, 4))
	f("empty", nil, 10)
	f("too many events", good, 3)
	f("count larger than the payload", binary.AppendUvarint(nil, 1000), 1<<20)
	f("trailing bytes", append(bytes.Clone(good), 0), 10)
	f("cut body", good[:len(good)-1], 10)
	f("bad varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10)
	f("body length past the end", []byte{1, 0, 100, 'a'}, 10)
}

// A small compressed frame that claims to inflate past max-frame-size is
// refused before anything is allocated.
func TestDecompressBomb(t *testing.T) {
	for codec := CodecDeflate; codec <= codecMax; codec++ {
		comp, err := newCompressor(codec, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := comp.compress(nil, make([]byte, 1<<20)) // 1 MiB of zeros, a few KB compressed
		comp.close()
		d := &decompressor{max: 64 << 10}
		_, err = d.decompress(codec, p)
		d.close()
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s: error %v, want ErrFrameTooLarge", codec, err)
		}
		// A lying raw length is caught too.
		lie := binary.AppendUvarint(nil, 10)
		p2 := comp2(t, codec, make([]byte, 100))
		_, n := binary.Uvarint(p2)
		d = &decompressor{max: 64 << 10}
		_, err = d.decompress(codec, append(lie, p2[n:]...))
		d.close()
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s lying length: error %v, want ErrMalformed", codec, err)
		}
	}
}

func comp2(t *testing.T, codec Codec, raw []byte) []byte {
	c, err := newCompressor(codec, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	return c.compress(nil, raw)
}

func TestParseCodecAndMode(t *testing.T) {
	for in, want := range map[string]Codec{"": CodecNone, "NONE": CodecNone, "deflate": CodecDeflate, "Zstd": CodecZstd, "snappy": CodecSnappy} {
		if got, err := ParseCodec(in); err != nil || got != want {
			t.Errorf("ParseCodec(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCodec("lz4"); err == nil || !strings.Contains(err.Error(), "supported: none, deflate, zstd, snappy") {
		t.Errorf("lz4: %v", err)
	}
	for in, want := range map[string]Mode{"": RoundRobin, "round_robin": RoundRobin, "fan-out": FanOut, "LEAST_LOADED": LeastLoaded} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("random"); err == nil {
		t.Error("random accepted")
	}
}
