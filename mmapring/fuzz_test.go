package mmapring

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/ipckit/ipckit/posix"
)

// The fuzz targets run every operation on rings whose bytes the fuzzer
// chose. They must be cheap per input, or the fuzzer barely runs (FuzzOpen
// once managed 470 inputs a minute): an input is a few patches to a valid
// ring image rather than a whole file, so that the engine's minimisation
// of each new input is quick, and the image is validated (validateHeader,
// with the image's length as the file's size: the checks FromFile makes)
// and run in one anonymous shared mapping reused by every input, not in a
// new memfd with its own mmap and munmap.

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

// fuzzImageMax bounds the images the targets map (the largest template is
// far smaller).
const fuzzImageMax = 1 << 16

var fuzzState struct {
	once      sync.Once
	err       error
	base      *posix.Mapping // anonymous shared memory every input runs in
	templates [][]byte       // valid ring images
}

// fuzzTemplates are the rings the inputs start from: both kinds, with and
// without checksums, holding messages.
var fuzzTemplates = []Config{
	{Kind: KindSPSC, Capacity: 256},
	{Kind: KindSPSC, Capacity: 256, Checksum: true},
	{Kind: KindMPMC, Capacity: 4, CellSize: 24},
	{Kind: KindMPMC, Capacity: 8, CellSize: 24, Limit: 6, Checksum: true},
}

func fuzzSetup(tb testing.TB) {
	fuzzState.once.Do(func() {
		fuzzState.base, fuzzState.err = posix.MapAnonymous(fuzzImageMax, 0)
		for _, cfg := range fuzzTemplates {
			r, err := New(cfg)
			if err != nil {
				fuzzState.err = err
				return
			}
			p, _ := r.Producer()
			p.TrySend([]byte("hello, ring"))
			p.TrySend(make([]byte, 20))
			p.Detach()
			fuzzState.templates = append(fuzzState.templates, append([]byte(nil), r.mem...))
			r.Close()
		}
	})
	if fuzzState.err != nil {
		tb.Fatal(fuzzState.err)
	}
}

// fuzzRing returns a Ring over a copy of img in the reused shared mapping,
// validated as FromFile validates a file of len(img) bytes.
func fuzzRing(img []byte) (*Ring, error) {
	g, err := validateHeader(img, int64(len(img)))
	if err != nil {
		return nil, err
	}
	if g.total > fuzzImageMax {
		return nil, ErrTooLarge
	}
	pm, err := fuzzState.base.Acquire()
	if err != nil {
		return nil, err
	}
	mem := pm.Bytes()[:g.total:g.total]
	copy(mem, img)
	return makeRing(&ringMem{pm: pm, mem: mem}, g), nil
}

// fuzzImage builds a ring image from an input: data[0] picks a template
// (or, past the last, an all-zero image), data[1:3] (int16) changes the
// image's length (the file's size), and the rest are patches, each a u16
// offset, a u8 length and that many bytes.
func fuzzImage(data []byte) []byte {
	if len(data) < 3 {
		data = append(data, 0, 0, 0)
	}
	var img []byte
	if t := int(data[0]) % (len(fuzzState.templates) + 1); t < len(fuzzState.templates) {
		img = append(img, fuzzState.templates[t]...)
	} else {
		img = make([]byte, headerSize+256)
	}
	n := len(img) + int(int16(binary.LittleEndian.Uint16(data[1:3])))
	n = max(0, min(n, fuzzImageMax))
	if n <= len(img) {
		img = img[:n]
	} else {
		img = append(img, make([]byte, n-len(img))...)
	}
	for p := data[3:]; len(p) >= 3 && len(img) > 0; {
		off := int(binary.LittleEndian.Uint16(p)) % len(img)
		k := min(int(p[2]), len(p)-3)
		copy(img[off:], p[3:3+k])
		p = p[3+k:]
	}
	return img
}

// patch encodes one patch of fuzzImage's input.
func patch(off int, b ...byte) []byte {
	return append([]byte{byte(off), byte(off >> 8), byte(len(b))}, b...)
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// FuzzOpen feeds arbitrary ring files (header, peer table and data) to
// the validation FromFile makes and, when the header validates, to every
// operation.
func FuzzOpen(f *testing.F) {
	fuzzSetup(f)
	live := uint64(1) << 32 // pid 1 (alive), start time unknown
	for t := range fuzzTemplates {
		tb := byte(t)
		f.Add([]byte{tb, 0, 0})
		f.Add([]byte{tb, 0xf0, 0xff})                                                                     // 16 bytes short
		f.Add(append([]byte{tb, 0, 0}, patch(offProdPos, le64(1<<20)...)...))                             // positions out of range
		f.Add(append([]byte{tb, 0, 0}, patch(offConsPos, le64(40)...)...))                                // head ahead of tail
		f.Add(append([]byte{tb, 0, 0}, patch(offVersion, 0, 0, 0, 0)...))                                 // not ready
		f.Add(append([]byte{tb, 0, 0}, patch(offPeers, append(le64(live), le32(roleConsumer)...)...)...)) // a live peer
		f.Add(append([]byte{tb, 0, 0}, patch(offOrphans, 5)...))                                          // a stale orphans hint
		f.Add(append([]byte{tb, 0, 0}, patch(headerSize, le64(0<<8|stReading|3)...)...))                  // a cell claimed by slot 3
		f.Add(append([]byte{tb, 0, 0}, patch(headerSize+8, 0xff, 0xff, 0, 0)...))                         // a record or cell length
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			return // longer inputs add nothing but a slower minimisation
		}
		r, err := fuzzRing(fuzzImage(data))
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
	fuzzSetup(f)
	f.Add(uint8(1), uint64(24), uint64(0), []byte{16, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add(uint8(1), uint64(8), uint64(0), []byte{0, 1, 0, 0, 1, 0, 0, 0})
	f.Add(uint8(1), uint64(264), uint64(256), []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})
	f.Add(uint8(2), uint64(2), uint64(0), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0})
	f.Add(uint8(2), uint64(1), uint64(0), []byte{0x41, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(2), uint64(9), uint64(3), []byte{0x03, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0})
	f.Fuzz(func(t *testing.T, kind uint8, prod, cons uint64, body []byte) {
		if len(body) > 512 {
			return // past every template's data area
		}
		img := fuzzState.templates[0] // SPSC, 256 bytes
		if kind%2 == 0 {
			img = fuzzState.templates[3] // MPMC, 8 cells, limit 6, checksums
		}
		r, err := fuzzRing(img)
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
