package mmapring

import (
	"context"
	"io"
	"strconv"
	"testing"
)

// TestChecksum (item 6): with Config.Checksum every message carries the
// CRC32C of its payload, through every way of sending and receiving (a
// payload changed in the ring: TestFaultChecksumMismatch).
func TestChecksum(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 64, Checksum: true})
			if !r.Checksum() {
				t.Fatal("Checksum() false")
			}
			r2, err := FromFile(r.File())
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			if !r2.Checksum() || r2.MaxMessage() != r.MaxMessage() {
				t.Fatal("the flag does not survive FromFile")
			}
			p, _ := r.Producer()
			c, _ := r2.Consumer()
			ctx := context.Background()
			buf := make([]byte, 64)
			for i := 0; i < 40; i++ { // several laps
				m := []byte("message " + strconv.Itoa(i))
				switch i % 3 {
				case 0:
					if err := p.Send(ctx, m); err != nil {
						t.Fatal(err)
					}
				case 1:
					b, err := p.Reserve(ctx, 32)
					if err != nil {
						t.Fatal(err)
					}
					p.Commit(copy(b, m))
				case 2:
					if _, err := p.SendBatch(ctx, [][]byte{m}); err != nil {
						t.Fatal(err)
					}
				}
				var got []byte
				if i%2 == 0 {
					n, err := c.Receive(ctx, buf)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					got = buf[:n]
				} else {
					if got, err = c.Peek(ctx); err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					got = append([]byte(nil), got...)
					c.Release()
				}
				if string(got) != string(m) {
					t.Fatalf("message %d: %q", i, got)
				}
			}
			p.Close()
			if _, err := c.Receive(ctx, buf); err != io.EOF {
				t.Fatalf("after close: %v", err)
			}
		})
	}
}

// flipPayload changes one byte of the (only) copy of text in the ring's
// data area, as a buggy or hostile peer could.
func flipPayload(r *Ring, text string) bool {
	data := r.mem[headerSize:r.total]
	for i := 0; i+len(text) <= len(data); i++ {
		if string(data[i:i+len(text)]) == text {
			data[i] ^= 0x20
			return true
		}
	}
	return false
}

// TestFaultChecksumMismatch: a Go and a C consumer both report a message
// whose payload no longer matches its checksum as corrupt, and go on.
func TestFaultChecksumMismatch(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32, Checksum: true})
			sendAll(t, r, "good", "tampered")
			if !flipPayload(r, "tampered") {
				t.Fatal("payload not found")
			}
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg good", "corrupt")
			sendAll(t, r, "after")
			closeRing(t, r)
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg after", "eof")
		}
	})
}
