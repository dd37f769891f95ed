package wal

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Nothing a damaged file can hold makes the decoders panic or allocate
// without bound; they return an error instead.
func FuzzDecoders(f *testing.F) {
	f.Add(appendPut(nil, mkBatch(1, 3, 20)))
	f.Add(appendTake(nil, []span{{seg: 1, off: 32, first: 0, last: 3}}))
	f.Add(encodeCheckpoint(&snapshot{seq: 9, pos: []pos{{1, 100}}, spans: []span{{seg: 1, n: 5, first: 1, last: 5, len: 60, off: 32}}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := putCount(b); err == nil {
			_, _ = decodePut(b, 0, n)
			_, _ = decodePut(b, n/2, n)
		}
		_, _ = decodePut(b, 0, 1<<31)
		_, _ = decodeTake(b)
		_, _ = decodeCheckpoint(b)
		_, _ = parseHeader(b)
		if len(b) >= recHeaderSize {
			sc := newScanner(bytesReaderAt(b), int64(len(b)))
			_, _, _, _ = sc.record(0)
			_, _ = sc.resync(0)
		}
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, os.ErrClosed
	}
	return copy(p, b[off:]), nil
}

// Open never panics on damaged directories: segments of random bytes,
// segments with random bytes spliced into valid records, a random
// checkpoint. It either recovers (reporting the damage) or says why not.
func TestOpenSurvivesGarbage(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 3))
	t.Logf("seed %d", seed)
	rounds := 40
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		rounds = 400
	}
	for r := 0; r < rounds; r++ {
		o, _ := testOpts(t, 2)
		q := mustOpen(t, o)
		for i := 0; i < 1+rng.IntN(8); i++ {
			mustPut(t, q, mkBatch(uint64(i*10), 1+rng.IntN(10), 8+rng.IntN(300)))
		}
		if rng.IntN(2) == 0 {
			tx, _ := q.Take(rng.IntN(30))
			_ = tx.Commit()
		}
		crash(q)
		for _, d := range o.DataDirs {
			for _, seg := range segFiles(t, d) {
				b, _ := os.ReadFile(seg)
				switch rng.IntN(4) {
				case 0: // splice garbage somewhere
					if len(b) > 0 {
						at := rng.IntN(len(b))
						for i := at; i < min(len(b), at+1+rng.IntN(64)); i++ {
							b[i] = byte(rng.Uint32())
						}
					}
				case 1: // all garbage
					b = make([]byte, rng.IntN(4096))
					for i := range b {
						b[i] = byte(rng.Uint32())
					}
				case 2: // truncated anywhere, even in the header
					b = b[:rng.IntN(len(b)+1)]
				}
				if err := os.WriteFile(seg, b, 0o640); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(3) == 0 {
			ck := filepath.Join(o.CheckpointDir, ckName)
			b, _ := os.ReadFile(ck)
			if len(b) > 20 {
				binary.LittleEndian.PutUint32(b[16+rng.IntN(len(b)-20):], rng.Uint32())
				_ = os.WriteFile(ck, b, 0o640)
			}
		}
		q, err := Open(o)
		if err != nil {
			t.Logf("round %d: Open refused: %v", r, err)
			continue
		}
		// Whatever was recovered can be taken without a panic.
		for {
			tx, err := q.Take(50)
			if err != nil {
				t.Fatalf("round %d: Take: %v", r, err)
			}
			n := len(tx.Events()) + tx.Dropped()
			if err := tx.Commit(); err != nil {
				t.Fatalf("round %d: Commit: %v", r, err)
			}
			if n == 0 {
				break
			}
		}
		_ = q.Close()
	}
}
