package sysv_test

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/sysv"
)

func TestMsggetExclusive(t *testing.T) {
	key := uniqueKey(t)
	q, err := sysv.CreateQueue(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	_, err = sysv.CreateQueue(key, nil)
	if !errors.Is(err, os.ErrExist) || !errors.Is(err, unix.EEXIST) {
		t.Fatalf("second exclusive create: %v, want EEXIST matching os.ErrExist", err)
	}
	if got := err.Error(); got != "msgget: file exists" {
		t.Errorf("error text %q", got)
	}
	q2, err := sysv.OpenOrCreateQueue(key, nil)
	if err != nil || q2.ID() != q.ID() {
		t.Fatalf("OpenOrCreateQueue: %v, id %v want %d", err, q2, q.ID())
	}
	q3, err := sysv.OpenQueue(key)
	if err != nil || q3.ID() != q.ID() {
		t.Fatalf("OpenQueue: %v", err)
	}
	st, err := q.Stat()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	want := sysv.Perm{Key: key, UID: uid, GID: gid, CUID: uid, CGID: gid, Mode: 0o600, Seq: st.Perm.Seq}
	if testenv.IPCPermModeUnreliable() {
		want.Mode = st.Perm.Mode
	}
	if d := cmp.Diff(want, st.Perm); d != "" {
		t.Errorf("Stat().Perm (-want +got):\n%s", d)
	}
	if st.Messages != 0 || st.MaxBytes == 0 || st.Changed.IsZero() || !st.LastSend.IsZero() {
		t.Errorf("Stat of a new queue: %+v", st)
	}
}

func TestOpenMissing(t *testing.T) {
	key := uniqueKey(t)
	for name, open := range map[string]func() error{
		"queue":   func() error { _, err := sysv.OpenQueue(key); return err },
		"semset":  func() error { _, err := sysv.OpenSemSet(key); return err },
		"segment": func() error { _, err := sysv.OpenSegment(key); return err },
	} {
		err := open()
		if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
			t.Errorf("%s: %v, want ENOENT matching os.ErrNotExist", name, err)
		}
	}
}

func TestMsgrcvE2BIGAndNoError(t *testing.T) {
	q := newQueue(t)
	m := sysv.NewMsgbuf(11)
	m.SetType(3)
	copy(m.Text(), "hello world")
	if err := sysv.Msgsnd(q.ID(), m, 0); err != nil {
		t.Fatal(err)
	}
	small := sysv.NewMsgbuf(4)
	if _, err := sysv.Msgrcv(q.ID(), small, 0, sysv.IPC_NOWAIT); err != unix.E2BIG {
		t.Fatalf("short buffer: %v, want E2BIG", err)
	}
	if st, _ := q.Stat(); st.Messages != 1 {
		t.Fatalf("after E2BIG the message must stay queued; %d queued", st.Messages)
	}
	n, err := sysv.Msgrcv(q.ID(), small, 0, sysv.IPC_NOWAIT|sysv.MSG_NOERROR)
	if err != nil || n != 4 || string(small.Text()) != "hell" || small.Type() != 3 {
		t.Fatalf("MSG_NOERROR: n=%d err=%v text=%q type=%d", n, err, small.Text(), small.Type())
	}
	if st, _ := q.Stat(); st.Messages != 0 || st.Bytes != 0 {
		t.Fatalf("truncated message's rest must be discarded: %+v", st)
	}
	// The handle layer gives the same semantics.
	if err := q.Send(bg, 1, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, _, err := q.Receive(bg, 0, buf, sysv.ReceiveNoWait); !errors.Is(err, unix.E2BIG) {
		t.Fatalf("Receive short: %v", err)
	}
	if n, typ, err := q.Receive(bg, 0, buf, sysv.ReceiveNoError); err != nil || n != 3 || typ != 1 || string(buf) != "012" {
		t.Fatalf("Receive NoError: %d %d %v %q", n, typ, err, buf)
	}
}

func TestMsgrcvNoWaitENOMSG(t *testing.T) {
	q := newQueue(t)
	_, err := sysv.Msgrcv(q.ID(), sysv.NewMsgbuf(8), 0, sysv.IPC_NOWAIT)
	if err != unix.ENOMSG {
		t.Fatalf("raw: %v, want ENOMSG", err)
	}
	_, _, err = q.Receive(bg, 0, make([]byte, 8), sysv.ReceiveNoWait)
	if !errors.Is(err, unix.ENOMSG) || err.Error() != "msgrcv: no message of desired type" {
		t.Fatalf("handle: %v", err)
	}
	// TryReceive's "would block" matches EAGAIN, as every Try call's does,
	// and still the kernel's ENOMSG.
	_, _, err = q.TryReceive(0, make([]byte, 8), 0)
	if !errors.Is(err, unix.EAGAIN) || !errors.Is(err, unix.ENOMSG) || err.Error() != "msgrcv: no message of desired type" {
		t.Fatalf("TryReceive on an empty queue: %v, want EAGAIN and ENOMSG", err)
	}
	if err := q.TrySend(3, []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, typ, err := q.TryReceive(0, buf, 0); err != nil || n != 1 || typ != 3 {
		t.Fatalf("TryReceive: %d %d %v", n, typ, err)
	}
}

// XFromID checks the id: a stale one fails at once, for every kind.
func TestFromIDChecksTheID(t *testing.T) {
	q := newQueue(t)
	id := q.ID()
	if _, err := sysv.QueueFromID(id); err != nil {
		t.Fatalf("QueueFromID(live id): %v", err)
	}
	set, err := sysv.CreateSemSet(sysv.IPCPrivate, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := sysv.CreateSegment(sysv.IPCPrivate, 4096, nil)
	if err != nil {
		set.Remove()
		t.Fatal(err)
	}
	if _, err := sysv.SegmentFromID(seg.ID()); err != nil {
		t.Errorf("SegmentFromID(live id): %v", err)
	}
	if s, err := sysv.SemSetFromID(set.ID()); err != nil || s.Len() != 2 {
		t.Errorf("SemSetFromID(live id): %v", err)
	}
	for _, rm := range []func() error{q.Remove, set.Remove, seg.Remove} {
		if err := rm(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sysv.QueueFromID(id); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("QueueFromID(removed id): %v, want EINVAL or EIDRM", err)
	}
	if _, err := sysv.SemSetFromID(set.ID()); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("SemSetFromID(removed id): %v, want EINVAL or EIDRM", err)
	}
	if _, err := sysv.SegmentFromID(seg.ID()); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("SegmentFromID(removed id): %v, want EINVAL or EIDRM", err)
	}
}

func TestMsgTypeSelection(t *testing.T) {
	q := newQueue(t)
	for _, typ := range []int{5, 2, 9, 2, 7} {
		if err := q.Send(bg, typ, []byte{byte(typ)}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 8)
	recv := func(mtype int, flags sysv.ReceiveFlag) int {
		t.Helper()
		_, typ, err := q.Receive(bg, mtype, buf, flags|sysv.ReceiveNoWait)
		if err != nil {
			t.Fatalf("Receive(%d, %#x): %v", mtype, flags, err)
		}
		return typ
	}
	// MSG_COPY: index 2 is the third message (9), still queued after.
	if typ := recv(2, sysv.ReceiveCopy); typ != 9 {
		t.Errorf("MSG_COPY index 2 gave type %d, want 9", typ)
	}
	if typ := recv(-6, 0); typ != 2 {
		t.Errorf("msgtyp -6 gave %d, want the lowest type <= 6: 2", typ)
	}
	if typ := recv(5, sysv.ReceiveExcept); typ != 9 {
		t.Errorf("MSG_EXCEPT 5 gave %d, want first type != 5: 9", typ)
	}
	if typ := recv(7, 0); typ != 7 {
		t.Errorf("msgtyp 7 gave %d", typ)
	}
	if typ := recv(0, 0); typ != 5 {
		t.Errorf("msgtyp 0 gave %d, want the first: 5", typ)
	}
	if typ := recv(0, 0); typ != 2 {
		t.Errorf("msgtyp 0 gave %d, want 2", typ)
	}
	// A negative type that no message satisfies, and a C long type that
	// does not fit 32 bits (msgtyp is a long; on 32-bit systems it is cut
	// to 32 bits exactly as C does).
	if _, _, err := q.Receive(bg, -1, buf, sysv.ReceiveNoWait); !errors.Is(err, unix.ENOMSG) {
		t.Errorf("msgtyp -1 on an empty queue: %v", err)
	}
}

func TestMsgcopyNeedsNoWait(t *testing.T) {
	q := newQueue(t)
	if err := q.Send(bg, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The raw call keeps kernel semantics: MSG_COPY without IPC_NOWAIT is EINVAL.
	if _, err := sysv.Msgrcv(q.ID(), sysv.NewMsgbuf(8), 0, sysv.MSG_COPY); err != unix.EINVAL {
		t.Fatalf("raw MSG_COPY without IPC_NOWAIT: %v, want EINVAL", err)
	}
}

func TestEINVAL(t *testing.T) {
	q := newQueue(t)
	if err := q.Send(bg, 0, []byte("x")); !errors.Is(err, unix.EINVAL) {
		t.Errorf("mtype 0: %v", err)
	}
	if err := sysv.Msgsnd(q.ID(), make([]byte, sysv.SizeofLong-1), 0); err != unix.EINVAL {
		t.Errorf("short msgbuf: %v", err)
	}
	if _, err := sysv.Msgctl(-1, sysv.IPC_STAT, new(sysv.MsqidDS)); err != unix.EINVAL {
		t.Errorf("msgctl bad id: %v", err)
	}
	if _, err := sysv.Semget(sysv.IPCPrivate, -1, sysv.IPC_CREAT); err != unix.EINVAL {
		t.Errorf("semget nsems -1: %v", err)
	}
	s := newSemSet(t, 2)
	if _, err := sysv.SemctlArray(s.ID(), sysv.GETALL, make([]uint16, 1)); err != unix.EINVAL {
		t.Errorf("GETALL into a slice shorter than the set: %v, want EINVAL (never a write past it)", err)
	}
	if err := s.SetValue(0, sysv.SEMVMX+1); !errors.Is(err, unix.ERANGE) {
		t.Errorf("SETVAL above SEMVMX: %v, want ERANGE", err)
	}
}

func TestSemtimedopEAGAIN(t *testing.T) {
	s := newSemSet(t, 1)
	ts := sysv.NsecToTimespec(20e6)
	err := sysv.Semtimedop(s.ID(), []sysv.Sembuf{{Num: 0, Op: -1}}, &ts)
	if err != unix.EAGAIN {
		t.Fatalf("semtimedop timeout: %v, want EAGAIN (the kernel's report of a timeout)", err)
	}
	err = sysv.Semop(s.ID(), []sysv.Sembuf{{Num: 0, Op: -1, Flg: sysv.IPC_NOWAIT}})
	if err != unix.EAGAIN {
		t.Fatalf("IPC_NOWAIT: %v, want EAGAIN", err)
	}
}

func TestSemctlValuesAndSemun(t *testing.T) {
	s := newSemSet(t, 3)
	if s.Len() != 3 {
		t.Fatalf("Len %d", s.Len())
	}
	// SETVAL goes through the by-value union semun: a wrong shift on
	// big-endian 64-bit systems would read back 0.
	for _, v := range []int{0, 1, 7, 255, 256, 32767} {
		if err := s.SetValue(1, v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Value(1)
		if err != nil || got != v {
			t.Fatalf("SetValue(%d) then Value = %d, %v", v, got, err)
		}
	}
	if err := s.SetValues([]uint16{3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	vals, err := s.Values()
	if err != nil || len(vals) != 3 || vals[0] != 3 || vals[1] != 4 || vals[2] != 5 {
		t.Fatalf("Values %v %v", vals, err)
	}
	if err := s.Op(bg, sysv.Sembuf{Num: 2, Op: -2}); err != nil {
		t.Fatal(err)
	}
	if pid, err := s.LastPID(2); err != nil || pid != os.Getpid() {
		t.Fatalf("LastPID %d %v", pid, err)
	}
	st, err := s.Stat()
	if err != nil || st.NSems != 3 || st.LastOp.IsZero() || !modeIs(st.Perm.Mode, 0o600) {
		t.Fatalf("Stat %+v %v", st, err)
	}
}

func TestFtokMatchesGlibc(t *testing.T) {
	bin := cPeer(t)
	dir := t.TempDir()
	for _, proj := range []int{1, 'x', 255} {
		key, err := sysv.Ftok(dir, byte(proj))
		if err != nil {
			t.Fatal(err)
		}
		out := runPeer(t, bin, "ftok", dir, itoa(proj))
		if want := atoi(t, out); sysv.Key(want) != key {
			t.Errorf("Ftok(%s, %d) = %#x, glibc ftok = %#x", dir, proj, key, want)
		}
	}
	if _, err := sysv.Ftok(dir+"/missing", 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
}

func TestShmAttach(t *testing.T) {
	seg := newSegment(t, 10000)
	m, err := seg.Attach(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 10000 {
		t.Fatalf("len %d", m.Len())
	}
	if m.Truncatable() {
		t.Error("a System V segment cannot shrink, yet the mapping says Truncatable")
	}
	copy(m.Bytes(), "shared")
	ro, err := seg.Attach(sysv.SHM_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if string(ro.Bytes()[:6]) != "shared" {
		t.Fatalf("second attach sees %q", ro.Bytes()[:6])
	}
	st, err := seg.Stat()
	if err != nil || st.Attaches != 2 || st.Size != 10000 || st.CreatorPID != os.Getpid() || st.LastAttach.IsZero() {
		t.Fatalf("Stat %+v %v", st, err)
	}
	if err := m.Resize(20000); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Resize of a segment: %v, want ErrNotSupported", err)
	}
	// Another handle to the same attachment keeps it attached after the
	// first handle closes: nattch drops only with the last handle.
	m2, err := m.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := seg.Stat(); st.Attaches != 2 {
		t.Errorf("after closing one of two handles: nattch %d, want 2", st.Attaches)
	}
	if string(m2.Bytes()[:6]) != "shared" {
		t.Error("the remaining handle lost the memory")
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := seg.Stat(); st.Attaches != 1 {
		t.Errorf("after the last handle: nattch %d, want 1", st.Attaches)
	}
	if err := seg.Remove(); err != nil {
		t.Fatal(err)
	}
	st, _ = seg.Stat()
	if (!st.Removed && !testenv.IPCPermModeUnreliable()) || st.Perm.Key != 0 {
		t.Errorf("after IPC_RMID while attached: %+v, want Removed and key 0", st)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := seg.Stat(); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("after last detach the segment must be gone: %v", err)
	}
	// Closed handles: Close again is nil, everything else is ErrClosed.
	for _, h := range []*posix.Mapping{m, m2, ro} {
		if err := h.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if h.Bytes() != nil || h.Len() != 0 {
			t.Error("Bytes after Close")
		}
		if err := h.Sync(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Sync after Close: %v", err)
		}
		if _, err := h.Acquire(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Acquire after Close: %v", err)
		}
	}
}

// OpenOrCreate creates once and then opens the same object, for every kind;
// Create after it fails with os.ErrExist.
func TestOpenOrCreate(t *testing.T) {
	key := uniqueKey(t)
	s1, err := sysv.OpenOrCreateSemSet(key, 3, &sysv.Options{Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s1.Remove() })
	s2, err := sysv.OpenOrCreateSemSet(key, 3, nil)
	if err != nil || s2.ID() != s1.ID() || s2.Len() != 3 {
		t.Fatalf("second OpenOrCreateSemSet: %v (id %d, want %d)", err, s2.ID(), s1.ID())
	}
	if _, err := sysv.CreateSemSet(key, 3, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("CreateSemSet after OpenOrCreateSemSet: %v, want os.ErrExist", err)
	}
	g1, err := sysv.OpenOrCreateSegment(key, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g1.Remove() })
	g2, err := sysv.OpenOrCreateSegment(key, 4096, nil)
	if err != nil || g2.ID() != g1.ID() {
		t.Fatalf("second OpenOrCreateSegment: %v", err)
	}
	if _, err := sysv.OpenOrCreateSegment(key, 8192, nil); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("OpenOrCreateSegment larger than the segment: %v, want EINVAL", err)
	}
	if st, err := s1.Stat(); err != nil || !modeIs(st.Perm.Mode, 0o640) {
		t.Fatalf("mode %v %v, want 0640", st.Perm.Mode, err)
	}
}
