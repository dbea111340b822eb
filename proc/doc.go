// Package proc starts Go processes that share ipckit objects, the way
// Python's multiprocessing starts Process and Pool workers: a child is a
// fresh copy of the running program that runs a function registered by
// name, handed rings, pipes, queues, shared memory and plain values by
// index, and watched so that it never outlives its parent.
//
// # Registering and starting
//
// Register names a Func in an init function; Main, the first statement of
// main (and of TestMain), runs that Func when the process was started by
// proc, and returns at once otherwise (moby's reexec works the same way):
//
//	func init() { proc.Register("worker", worker) }
//
//	func main() {
//		proc.Main()
//		p, err := proc.Start(ctx, "worker", &proc.Options{Handles: []any{ring, conn, 42}})
//		...
//		err = p.Wait(ctx)
//	}
//
//	func worker(ctx context.Context, c *proc.Child) error {
//		ring, err := c.Ring(0)
//		...
//	}
//
// Start re-executes the program (os.Executable, or Options.Executable;
// when $IPCKIT_EXEC holds an emulator command such as
// "qemu-aarch64-static -L /usr/aarch64-linux-gnu", as ipckit's
// cross-architecture test legs set, the program is started through it).
// Start, NewPool and Track refuse to run in a program that has not called
// Main, because its copy would run main instead of the child.
//
// # Handles
//
// Options.Handles lists what the child gets, by index. Descriptors travel
// through exec.Cmd.ExtraFiles, duplicated (the parent keeps its handles),
// and a manifest in a memfd says what each one is: *mmapring.Ring,
// *mmapring.Queue, *posix.Conn, *posix.EventFD, *posix.Queue,
// *posix.SharedMemory and *os.File (a memfd, a pipe end, a file) pass a
// descriptor; *sysv.Queue, *sysv.SemSet and *sysv.Segment pass their id;
// integers, strings, []byte, bools and floats pass as plain values (System
// V ids and keys, object names). RegisterKind teaches proc more types
// (other packages' handles).
//
// The child asks for handle i as what it expects: Child.Ring, RingQueue,
// Conn, EventFD, Queue, SharedMemory, SysVQueue, SemSet, Segment, and the
// generic Get[T]; Child.File duplicates any handle's descriptor, Mapping
// maps any file-like one (shm, memfd, file), and Value, Int, String and
// Bytes read plain values. Asking for a handle as the wrong kind, or for
// one out of range, is a *HandleError matching ErrWrongKind or
// ErrNoHandle, never a crash, and the handle stays available. Every call
// returns a new handle that the caller closes.
//
// A passed descriptor shares its open file description with the parent's,
// so its offset and its blocking mode (O_NONBLOCK) are shared: proc never
// changes either (it duplicates descriptors without os.File.Fd, which would
// switch a non-blocking file to blocking). posix hands out its descriptors
// in blocking mode, as C and Python expect, and its handles in both
// processes still wait in the Go runtime poller. Every handle is rebuilt
// in the child from the descriptor alone, with the package's FromFile
// constructor (posix.ConnFromFile, EventFDFromFile, QueueFromFile,
// SharedMemoryFromFile, mmapring's ring from its file), so a POSIX queue
// or shm object whose name the parent has unlinked still reaches the child.
//
// # Processes
//
// Start returns once the child has called Main. Process.Wait reports how
// it ended: nil when the Func returned nil, else an *ExitError with the
// exit status or signal, the text of the error the Func returned, the
// value and stack of its panic, or what the Go runtime printed when it
// crashed (a panic in another goroutine, a fatal error), all sent back
// over private pipes. A child that never calls Main (exits, or hangs past
// Options.StartTimeout) fails Start with ErrNoMain; a name the child does
// not know (registered after Main ran) makes Wait fail with
// ErrNotRegistered.
//
// Signal, Kill and Terminate go through os.Process, which on Linux holds a
// pidfd, so a signal never reaches a process that reused the child's pid.
// Terminate sends SIGTERM, which cancels the Func's context (a second
// SIGTERM exits at once), then SIGKILL after a grace period; cancelling
// Start's context does the same.
//
// # Parent death
//
// Children die when their parent dies, however it dies. The kernel's
// parent-death signal (PR_SET_PDEATHSIG, here SIGKILL) fires when the
// thread that forked the child exits, not the process (prctl(2);
// golang/go#27505), and the Go runtime ends threads when it likes, so proc
// forks every child from one goroutine that is locked to its thread and
// never returns: the signal then fires exactly when the process dies. As a
// second line, each child holds the read end of a pipe whose write end
// only the parent holds, and exits when the read returns EOF; and a child
// that finds its parent already gone at start exits at once.
//
// # Cleanup of named objects
//
// Track hands a named object (POSIX shm, queue or semaphore name, a file,
// a System V id with TrackID) to a resource tracker: a copy of the program
// started on the first Start or Track, in its own process group, that
// outlives the process tree. Every process of the tree holds the write end
// of the tracker's pipe (Start passes it down); when the last one is gone,
// even by SIGKILL, the tracker reads EOF and removes what is still
// tracked, reporting each removal on its standard error. Unlike Python's
// tracker before 3.13 it removes only what it was told to own: attaching
// to an object never tracks it. Untrack gives an object back.
//
// # Pools
//
// Pool (bytes) and PoolOf[In, Out] (values, through a Codec) run a task
// registered with RegisterTask or RegisterTaskOf on worker processes, like
// multiprocessing.Pool: Map returns results in input order, Submit returns
// a future. Each worker has two private SPSC rings (tasks in, results
// out) rather than one shared MPMC queue: the pool then knows which tasks
// each worker holds, tasks travel in chunks (up to PoolOptions.ChunkSize,
// smaller when few are left, so the tail spreads over every worker), and
// tasks and results pass through shared memory without a system call
// while both sides are busy; the parent sleeps as soon as it has drained
// the results, and one futex wake brings it back for the next batch (on a
// host with few cores, a spinning parent would take its workers' CPU).
// Each result is published as soon as its
// task ends, so a worker that dies loses no finished work: the task it was
// running (known from a word it sets in shared memory before each task)
// fails with a *TaskError matching ErrWorkerDied that carries the worker's
// *ExitError, its other tasks go to the other workers, and a new worker
// takes its place. A task's error or panic fails only that task.
// DefaultCodec copies fixed-size pointer-free values raw, so a typed Map
// of such values allocates per call, not per task.
package proc
