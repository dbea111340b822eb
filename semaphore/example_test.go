package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/semaphore"
	"github.com/ipckit/ipckit/sysv"
)

// A named semaphore made with sem_open's own flags; a C program opens it
// with sem_open(name, 0).
func ExampleOpenFlags() {
	name := fmt.Sprintf("/example-jobs-%d", os.Getpid())
	s, err := semaphore.OpenFlags(name, unix.O_CREAT|unix.O_EXCL, 0o600, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer semaphore.Unlink(name)
	defer s.Close()

	fmt.Println(s.Path() == "/dev/shm/sem."+name[1:], s.Value())
	s.TryWait()
	s.TryWait()
	err = s.TryWait()
	fmt.Println(errors.Is(err, semaphore.ErrWouldBlock), errors.Is(err, unix.EAGAIN))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(s.Wait(ctx))
	s.Post()
	fmt.Println(s.Wait(context.Background()), s.Value())
	// Output:
	// true 2
	// true true
	// context deadline exceeded
	// <nil> 0
}

// An unnamed semaphore at an offset of a shared mapping, as C's
// sem_init(sem, 1, 0) would make. Here the mapping is anonymous, which
// only this process (and children forked without exec, which a Go program
// never makes) can see; to share it with another process, map a memfd or
// a shm object in both (posix.NewSharedMemory, posix.CreateShm).
func ExampleInit() {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Munmap(mem)
	s, err := semaphore.Init(mem, 64, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- s.Wait(context.Background()) }()
	s.Post()
	fmt.Println(<-done, s.Value())

	_, err = semaphore.Init(mem, 3, 0) // a sem_t must be aligned
	fmt.Println(errors.Is(err, unix.EINVAL))
	// Output:
	// <nil> 0
	// true
}

// A robust mutex: the next locker learns that a holder died and repairs.
// (Not run as a test: 32-bit targets and qemu-user cannot run it.)
func ExampleMutex() {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Munmap(mem)
	m, err := semaphore.InitMutex(mem, 0, semaphore.MutexNormal)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A goroutine that exits holding the mutex ends its OS thread, like a
	// process that dies holding it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Lock(context.Background())
	}()
	<-done

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	result := make(chan string)
	go func() { // Lock and Unlock on one goroutine
		err := m.Lock(ctx)
		if errors.Is(err, semaphore.ErrOwnerDead) {
			// ... repair the shared state, then:
			m.Consistent()
			err = nil
		}
		m.Unlock()
		result <- fmt.Sprint("recovered: ", err == nil)
	}()
	fmt.Println(<-result) // recovered: true
}

// A SysV-backed semaphore: units held by a process that dies come back.
func ExampleCreateSysV() {
	s, err := semaphore.CreateSysV(sysv.IPCPrivate, 1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Remove()
	s.Wait(context.Background()) // with SEM_UNDO: returned if we die now
	v, _ := s.Value()
	fmt.Println(v)
	s.Post()
	v, _ = s.Value()
	fmt.Println(v)
	// Output:
	// 0
	// 1
}

func ExampleEvent() {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Munmap(mem)
	e, _ := semaphore.InitEvent(mem, 0)
	done := make(chan error)
	go func() { done <- e.Wait(context.Background()) }()
	e.Set()
	fmt.Println(<-done, e.IsSet())
	e.Clear()
	fmt.Println(e.IsSet())
	// Output:
	// <nil> true
	// false
}
