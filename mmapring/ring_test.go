package mmapring

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fill writes a message of n bytes for sequence number seq: 8 bytes of
// seq, payload derived from seq, and a CRC32 of everything before it in
// the last 4 bytes (n >= 12), so a receiver can check every byte.
func fill(b []byte, seq uint64) {
	n := len(b)
	binary.NativeEndian.PutUint64(b, seq)
	x := uint32(seq*2654435761 + 1)
	for i := 8; i < n-4; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	binary.NativeEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
}

func check(b []byte) (uint64, bool) {
	n := len(b)
	if n < 12 {
		return 0, false
	}
	if binary.NativeEndian.Uint32(b[n-4:]) != crc32.ChecksumIEEE(b[:n-4]) {
		return 0, false
	}
	return binary.NativeEndian.Uint64(b), true
}

func msgSize(rng *rand.Rand, max int) int { return 12 + rng.IntN(max-11) }

func newRing(t testing.TB, cfg Config) *Ring {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSPSCInProcess(t *testing.T) {
	for _, capacity := range []int{256, 4096, 1 << 16} {
		r := newRing(t, Config{Capacity: capacity})
		p, err := r.Producer()
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Consumer()
		if err != nil {
			t.Fatal(err)
		}
		const n = 20000
		max := r.MaxMessage()
		if max > 3000 {
			max = 3000
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, max)
			for i := uint64(0); i < n; i++ {
				m := buf[:msgSize(rng, max)]
				fill(m, i)
				if err := p.Send(ctx, m); err != nil {
					t.Error(err)
					return
				}
			}
			p.Close()
		}()
		buf := make([]byte, max)
		for i := uint64(0); ; i++ {
			k, err := c.Receive(ctx, buf)
			if err == io.EOF {
				if i != n {
					t.Fatalf("EOF after %d messages, want %d", i, n)
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seq, ok := check(buf[:k])
			if !ok || seq != i {
				t.Fatalf("message %d: bad (seq %d ok %v len %d)", i, seq, ok, k)
			}
		}
		wg.Wait()
	}
}

func TestMPMCInProcess(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 64, CellSize: 100})
	const producers, consumers, per = 3, 3, 5000
	ctx := context.Background()
	var pw, cw sync.WaitGroup
	seen := make([][]bool, producers)
	for i := range seen {
		seen[i] = make([]bool, per)
	}
	var mu sync.Mutex
	for w := 0; w < producers; w++ {
		p, err := r.Producer()
		if err != nil {
			t.Fatal(err)
		}
		pw.Add(1)
		go func(w int) {
			defer pw.Done()
			defer p.Detach()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			buf := make([]byte, 100)
			for i := uint64(0); i < per; i++ {
				m := buf[:msgSize(rng, 100)]
				fill(m, uint64(w)<<32|i)
				if err := p.Send(ctx, m); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for w := 0; w < consumers; w++ {
		c, err := r.Consumer()
		if err != nil {
			t.Fatal(err)
		}
		cw.Add(1)
		go func() {
			defer cw.Done()
			defer c.Close()
			buf := make([]byte, 100)
			for {
				k, err := c.Receive(ctx, buf)
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				seq, ok := check(buf[:k])
				if !ok {
					t.Error("corrupt message")
					return
				}
				mu.Lock()
				w, i := seq>>32, seq&0xffffffff
				if w >= producers || i >= per || seen[w][i] {
					t.Errorf("duplicate or bogus %d/%d", w, i)
				} else {
					seen[w][i] = true
				}
				mu.Unlock()
			}
		}()
	}
	pw.Wait()
	closer, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	closer.Close()
	cw.Wait()
	for w := range seen {
		for i, ok := range seen[w] {
			if !ok {
				t.Fatalf("message %d/%d lost", w, i)
			}
		}
	}
}

func TestTryAndContext(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 64})
			p, _ := r.Producer()
			c, _ := r.Consumer()
			buf := make([]byte, 256)
			if _, err := c.TryReceive(buf); err != ErrEmpty {
				t.Fatalf("TryReceive on empty: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			if _, err := c.Receive(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Receive: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("deadline honoured after %v", d)
			}
			msg := make([]byte, 40)
			var sent int
			for {
				if err := p.TrySend(msg); err == ErrFull {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				sent++
			}
			if sent == 0 {
				t.Fatal("nothing fit")
			}
			ctx2, cancel2 := context.WithCancel(context.Background())
			go func() { time.Sleep(20 * time.Millisecond); cancel2() }()
			if err := p.Send(ctx2, msg); !errors.Is(err, context.Canceled) {
				t.Fatalf("Send on full: %v", err)
			}
			if err := p.TrySend(make([]byte, r.MaxMessage()+1)); err != ErrTooLarge {
				t.Fatalf("too large: %v", err)
			}
			for i := 0; i < sent; i++ {
				if n, err := c.TryReceive(buf); err != nil || n != 40 {
					t.Fatalf("recv %d: %d %v", i, n, err)
				}
			}
			if _, err := c.TryReceive(buf[:1]); err != ErrEmpty {
				t.Fatal(err)
			}
			p.TrySend(msg)
			if _, err := c.TryReceive(buf[:1]); err != io.ErrShortBuffer {
				t.Fatalf("short buffer: %v", err)
			}
			p.Close()
			if n, err := c.TryReceive(buf); n != 40 || err != nil {
				t.Fatalf("drain after close: %d %v", n, err)
			}
			if _, err := c.Receive(context.Background(), buf); err != io.EOF {
				t.Fatalf("after close: %v", err)
			}
		})
	}
}
