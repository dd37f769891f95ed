package forward

import (
	"bytes"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary bytes to the frame and payload decoders,
// as a hostile peer would: they must never panic nor allocate past the
// limits, and what decodes must encode back to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	evs := makeEvents("seed", 0, 3)
	raw := AppendBatch(nil, evs)
	f.Add(AppendFrame(nil, KindBatch, CodecNone, 1, raw))
	for codec := CodecDeflate; codec <= codecMax; codec++ {
		c, err := newCompressor(codec, 1)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(AppendFrame(nil, KindBatch, codec, 2, c.compress(nil, raw)))
		c.close()
	}
	f.Add(AppendFrame(nil, KindHello, CodecNone, 0, hello{Group: "g", Name: "a1/k1"}.append(nil)))
	f.Add(AppendFrame(nil, KindNack, CodecNone, 3, appendNack(nil, NackRetry, "channel full")))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{})
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, b []byte) {
		// Random bytes rarely carry a valid CRC, so the payload decoders
		// also get b as it is, under every codec.
		for codec := CodecNone; codec <= codecMax; codec++ {
			d := &decompressor{max: max}
			if p, err := d.decompress(codec, b); err == nil {
				if len(p) > max && codec != CodecNone {
					t.Fatalf("%s inflated to %d bytes, limit %d", codec, len(p), max)
				}
				_, _ = DecodeBatch(p, 1000)
			}
			d.close()
		}
		fr, n, err := DecodeFrame(b, max)
		if err != nil {
			return
		}
		if n > len(b) || len(fr.Payload) > max {
			t.Fatalf("consumed %d of %d bytes, payload %d", n, len(b), len(fr.Payload))
		}
		if again := AppendFrame(nil, fr.Kind, fr.Codec, fr.Seq, fr.Payload); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded frame differs")
		}
		switch fr.Kind {
		case KindBatch:
			d := &decompressor{max: max}
			defer d.close()
			p, err := d.decompress(fr.Codec, fr.Payload)
			if err != nil {
				return
			}
			if len(p) > max {
				t.Fatalf("inflated to %d bytes, limit %d", len(p), max)
			}
			evs, err := DecodeBatch(p, 1000)
			if err != nil {
				return
			}
			// Header order is a map's: compare decoded forms.
			again, err := DecodeBatch(AppendBatch(nil, evs), 1000)
			if err != nil || len(again) != len(evs) {
				t.Fatalf("re-decode: %v", err)
			}
			for i := range evs {
				if !bytes.Equal(again[i].Body, evs[i].Body) || len(again[i].Headers) != len(evs[i].Headers) {
					t.Fatalf("event %d changed in a round trip", i)
				}
			}
		case KindHello:
			_, _ = decodeHello(fr.Payload)
		case KindWelcome:
			_, _ = decodeWelcome(fr.Payload)
		case KindAck:
			_, _ = decodeAck(fr.Payload)
		case KindNack:
			_, _ = decodeNack(fr.Payload)
		}
	})
}
