package mmapring

import (
	"encoding/binary"
	"testing"
)

// exercise runs every non-blocking operation on a ring that may be
// corrupt. Nothing may panic or hang; errors are fine.
func exercise(r *Ring) {
	r.Stats()
	c, err := r.Consumer()
	if err == nil {
		buf := make([]byte, r.MaxMessage())
		for i := 0; i < 32; i++ {
			if _, err := c.TryReceive(buf); err != nil && err != ErrEmpty {
				break
			}
		}
		if m, err := c.TryPeek(); err == nil {
			_ = len(m)
			c.Release()
		}
		c.Close()
	}
	p, err := r.Producer()
	if err == nil {
		msg := make([]byte, 40)
		for i := 0; i < 8; i++ {
			if p.TrySend(msg) != nil {
				break
			}
		}
		if b, err := p.TryReserve(16); err == nil {
			_ = len(b)
			p.Commit(8)
		}
		p.Detach()
	}
	r.repairDead()
}

func seedRings(f *testing.F) {
	for _, cfg := range []Config{{Kind: KindSPSC, Capacity: 256}, {Kind: KindMPMC, Capacity: 4, CellSize: 24}} {
		r, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		p, _ := r.Producer()
		p.TrySend([]byte("hello, ring"))
		p.TrySend(make([]byte, 20))
		p.Detach()
		f.Add(append([]byte(nil), r.mem...))
		r.Close()
	}
}

// FuzzOpen feeds arbitrary ring files (header, peer table and data) to
// FromFile and, when the header validates, to every operation.
func FuzzOpen(f *testing.F) {
	seedRings(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		fmem := memfdWith(t, data, len(data))
		defer fmem.Close()
		r, err := FromFile(fmem)
		if err != nil {
			return
		}
		defer r.Close()
		exercise(r)
	})
}

// FuzzConsumer keeps a valid header and lets the fuzzer choose the shared
// positions and the bytes of the data area: records, lengths, cell states.
func FuzzConsumer(f *testing.F) {
	f.Add(uint8(1), uint64(24), uint64(0), []byte{16, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add(uint8(1), uint64(8), uint64(0), []byte{0, 1, 0, 0, 1, 0, 0, 0})
	f.Add(uint8(1), uint64(264), uint64(256), []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})
	f.Add(uint8(2), uint64(2), uint64(0), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0})
	f.Add(uint8(2), uint64(1), uint64(0), []byte{0x41, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(2), uint64(9), uint64(3), []byte{0x03, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0})
	f.Fuzz(func(t *testing.T, kind uint8, prod, cons uint64, body []byte) {
		cfg := Config{Kind: KindSPSC, Capacity: 256}
		if kind%2 == 0 {
			cfg = Config{Kind: KindMPMC, Capacity: 8, CellSize: 24, Limit: 6}
		}
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		binary.NativeEndian.PutUint64(r.mem[offProdPos:], prod)
		binary.NativeEndian.PutUint64(r.mem[offConsPos:], cons)
		copy(r.mem[headerSize:], body)
		exercise(r)
	})
}
