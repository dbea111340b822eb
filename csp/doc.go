// Package csp provides typed channels between processes with the semantics
// of PyCSP (Communicating Sequential Processes for Python), on the
// shared-memory rings of package mmapring: channels with reader and writer
// ends that processes started with package proc pass to each other,
// buffered or rendezvous, that can be retired end by end or poisoned as a
// whole, a Select (PyCSP's Alternation) that waits on many channels written
// by many processes at once, and Parallel to run a network of processes.
//
//	ch, _ := csp.NewChan[Point](&csp.Options{Capacity: 16})
//	w, _ := ch.Writer()
//	r, _ := ch.Reader()
//	p, _ := proc.Start(ctx, "producer", &proc.Options{Handles: []any{w}})
//	w.Close() // the child holds the writer now
//	for {
//		pt, err := r.Receive(ctx) // io.EOF once the producer retired
//		...
//	}
//
//	// in the child, registered with proc.Register("producer", ...):
//	w, err := csp.WriterOf[Point](c, 0)
//	defer w.Retire()
//	err = w.Send(ctx, Point{X: 1})
//
// # Channels and ends
//
// NewChan makes a channel in a memfd; nothing is left behind when the last
// process closes it. Writer and Reader make ends. A channel declared
// OneToOne has one writer and one reader (at a time) and runs on an SPSC
// ring, the fastest; any other channel is any-to-any, on an MPMC ring, with
// up to 255 writers and 255 readers and 128 ends in all at once (and, as
// the ring allows, 64 ends that have sent or received at once).
//
// A *Chan[T], *Writer[T] or *Reader[T] placed in proc.Options.Handles
// reaches the child, which gets it back by index with ChanOf, WriterOf or
// ReaderOf: asking for the wrong kind of handle is a *proc.HandleError
// matching proc.ErrWrongKind, and asking for another element type than the
// channel carries (or another codec) is an error matching ErrWrongType —
// the channel records a fingerprint of T's layout (names, kinds, sizes and
// field offsets) and of the codec. ChanFromFile opens a channel from a
// descriptor passed any other way.
//
// An end belongs to one process. Passing it to a child hands it over: the
// parent's copy then fails with ErrPassed, and closing it (as one closes a
// descriptor after starting a child) does not retire the end. The child
// holds the end from its start: once the parent has closed its copy, the
// end counts as dead if the child dies, even before it opened it. Ends are
// counted in shared memory from the moment they are made, so make the ends
// for children in the parent: a side is retired as soon as every end made
// so far has retired.
//
// A Chan's methods are safe for concurrent use, except Close; an end's are
// not (make one end per goroutine: ends are cheap), except Poison.
//
// # Values
//
// A fixed-size, pointer-free T (numbers, arrays and structs of them) is
// copied raw, its memory as it is, and Send and Receive then allocate
// nothing. Options.Encoding Raw insists on that and refuses, with an error
// naming the culprit, a T holding pointers, slices, maps, strings,
// interfaces, channels or functions. Any other T is encoded with gob
// (proc.GobCodec), or with the proc.Codec given to NewChanCodec, in at most
// Options.MaxMessage bytes. Both ends must be the same program (raw values
// have its byte order and layout), as processes started by proc are.
//
// # Buffered and rendezvous channels
//
// A channel with Capacity n > 0 buffers exactly n values: Send waits while
// n are queued, TrySend fails with ErrFull (matching unix.EAGAIN). With
// Capacity 0 the channel is a rendezvous: Send returns only once a reader
// has taken the value. The value carries its writer's end slot and a
// sequence number, and the reader that takes it raises the writer's
// acknowledgement word in shared memory (and wakes it if it sleeps) before
// it releases the value. A rendezvous Send whose context ends after the
// value entered the channel returns ctx.Err() and leaves the value for a
// reader to take.
//
// # Retire, poison and dead peers
//
// Retire (or Close) retires an end. Once every writer has retired, readers
// receive what was sent and then io.EOF; once every reader has retired,
// Send fails with ErrRetired. Retirement of a side is final.
//
// Poison, on any end or on the Chan, in any process, poisons the channel:
// every call on every end, blocked or future, fails with ErrPoisoned, and
// values still buffered are dropped. A flag in shared memory says so, and
// the poisoner wakes every sleeper (ring sleepers through
// mmapring.Ring.Interrupt, writers waiting for room or for their
// acknowledgement through their own futex words).
//
// An end whose process dies without retiring it counts as dead. Each end
// holds an open file description of the channel with an OFD lock
// (fcntl(2) F_OFD_SETLK) on a byte of its slot, and passing the end passes
// that description, so the kernel drops the lock when no process holds
// the end any more — also when a child dies before it opened the end it
// was given; the slot also records the holder's pid and start time, checked
// in /proc. Every sleeper wakes at least every mmapring.LivenessInterval
// to test the other side's ends (not a polling loop for data: data always
// wakes it). When every end of a side is gone and one of them died, the
// other side gets ErrPeerDead (readers after receiving everything that was
// committed) instead of io.EOF or ErrRetired. A writer killed in the
// middle of a message never delivers half of it: its claimed ring cell is
// skipped once its death is proven (mmapring's repair); on an any-to-any
// channel, a value whose reader is killed while copying it out goes to
// another reader.
//
// # Select
//
// Select (and Alt, its reusable form) waits on input guards (Receive), a
// Timeout guard and a Skip guard. It sleeps in the kernel on all the
// channels at once with futex_waitv(2) (Linux 5.16+) on the rings' futex
// words in shared memory, registered as a waiter on each ring's eventcount
// so that a writer in any process wakes it; it never polls. Alt.Select
// gives priority to the first ready guard in the list (PyCSP's PriSelect),
// Alt.FairSelect rotates. Exactly one value is taken per Select. Where
// futex_waitv is missing (kernels before 5.16, qemu-user), Select falls
// back to one goroutine per channel, each asleep in FUTEX_WAIT on its
// channel's word (an OS thread each for the length of the sleep); the
// first to wake ends the sleep and the others are woken and released. It
// still never polls, at the cost of threads, allocations and spurious
// wake-ups of other sleepers on those words.
//
// # Parallel
//
// Parallel runs processes (and goroutines) and waits for all of them; the
// first to fail poisons every channel the members were given, so the
// network shuts down, and its error is returned. Members that end because
// of poison are not failures: poisoning is how a network stops.
//
// # Layout
//
// A channel's memfd, sealed against shrinking and growing (so no process
// can pull the memory from under another), holds an mmapring ring
// (mmapring/LAYOUT.md) followed, at the next page boundary (in the ring's
// Config.Trailer), by a control block: a header (magic
// "IPCKCSP1", version, flags, mode, element size, type and codec
// fingerprints, capacity, ring size), the state word (active writers and
// readers, retired, died and poisoned flags, updated with compare-and-swap
// so that no end joins a side that has just retired), the one-to-one
// count words, and 128 end slots (holder, state with a generation that
// grows each time an end takes the slot, role, rendezvous acknowledgement
// and its futex word). Every field read from it is
// validated when the channel is opened, and only local copies are used
// afterwards; a malformed message is consumed and reported as ErrCorrupt.
package csp
