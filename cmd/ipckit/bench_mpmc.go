package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ipckit/ipckit/mmapring"
)

// The producers × consumers rows: P producer processes and C consumer
// processes on one MPMC ring, in Go (this binary re-executed) or in C
// (ring_bench from mmapring.h). Every process attaches and says "ready";
// the producers start together on a line from the parent, send for the
// measurement's duration and detach; the parent then closes the ring, the
// consumers drain it to EOF, and msgs/s is everything received over the
// time from the start to the last consumer's EOF. They run at 64 B (the
// scaling question is about contention on the positions and cells, not
// about copying).

// pcSizeOK limits the scaling rows to 64 B and to machines with at least
// one CPU per producer (2×2 runs on 2 CPUs, oversubscribed two to one like
// its C counterpart; 4×4 there would measure the scheduler).
func pcSizeOK(procs int) func(size int) string {
	return func(size int) string {
		if size != 64 {
			return "producers × consumers rows run at 64 B only"
		}
		if n := runtime.NumCPU(); n < procs {
			return fmt.Sprintf("%d×%d needs %d CPUs, this machine has %d", procs, procs, procs, n)
		}
		return ""
	}
}

// pcTput measures procs producers and procs consumers in lang ("go" or "c").
func pcTput(procs int, lang string) func(o benchOpts, size int) (int, time.Duration, error) {
	return func(o benchOpts, size int) (int, time.Duration, error) {
		var cbin string
		if lang == "c" {
			var err error
			if cbin, err = buildCRing(); err != nil {
				return 0, 0, err
			}
		}
		r, err := mmapring.New(ringConfig(mmapring.KindMPMC, size))
		if err != nil {
			return 0, 0, err
		}
		defer r.Close()
		closer, err := r.Producer() // closes the ring once every producer is done
		if err != nil {
			return 0, 0, err
		}
		defer closer.Detach()
		type proc struct {
			cmd *exec.Cmd
			out *bufio.Reader
			in  io.WriteCloser
		}
		var procsRun []*proc
		defer func() {
			for _, p := range procsRun {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}()
		start := func(args ...string) (*proc, error) {
			var cmd *exec.Cmd
			if lang == "c" {
				cmd = exec.Command(cbin, args...)
			} else {
				exe, err := os.Executable()
				if err != nil {
					return nil, err
				}
				cmd = exec.Command(exe, append([]string{"mpmc-pc"}, args...)...)
				cmd.Env = append(os.Environ(), benchChildEnv+"=1")
			}
			cmd.ExtraFiles = []*os.File{r.File()}
			cmd.Stderr = os.Stderr
			in, err := cmd.StdinPipe()
			if err != nil {
				return nil, err
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				return nil, err
			}
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			p := &proc{cmd: cmd, out: bufio.NewReader(out), in: in}
			procsRun = append(procsRun, p)
			if l, err := p.out.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
				return nil, fmt.Errorf("%s %v did not start (%q)", lang, args, l)
			}
			return p, nil
		}
		var senders, receivers []*proc
		for i := 0; i < procs; i++ {
			p, err := start("mprecv", "3", strconv.Itoa(size))
			if err != nil {
				return 0, 0, err
			}
			receivers = append(receivers, p)
		}
		for i := 0; i < procs; i++ {
			p, err := start("mpsend", "3", strconv.Itoa(size), strconv.FormatInt(o.dur.Nanoseconds(), 10))
			if err != nil {
				return 0, 0, err
			}
			senders = append(senders, p)
		}
		t0 := time.Now()
		for _, p := range senders {
			io.WriteString(p.in, "\n")
		}
		count := func(p *proc) (int, error) {
			l, err := p.out.ReadString('\n')
			n, cerr := strconv.Atoi(strings.TrimSpace(l))
			if err != nil || cerr != nil {
				return 0, fmt.Errorf("%s process printed %q (%v)", lang, l, err)
			}
			return n, nil
		}
		sent := 0
		for _, p := range senders {
			n, err := count(p)
			if err != nil {
				return 0, 0, err
			}
			sent += n
		}
		closer.Close()
		got := 0
		for _, p := range receivers {
			n, err := count(p)
			if err != nil {
				return 0, 0, err
			}
			got += n
		}
		el := time.Since(t0)
		if got != sent {
			return 0, 0, fmt.Errorf("sent %d, received %d", sent, got)
		}
		return got, el, nil
	}
}

// pcChild is the Go side: mpsend FD SIZE DUR_NS | mprecv FD SIZE.
func pcChild(args []string) int {
	if len(args) < 3 {
		return 2
	}
	r, err := mmapring.FromFile(os.NewFile(uintptr(atoiOr(args[1])), "ring"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	size := int(atoiOr(args[2]))
	ctx := context.Background()
	switch args[0] {
	case "mpsend":
		p, err := r.Producer()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		msg := benchMessage(size)
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		dur := time.Duration(atoiOr(args[3]))
		n := 0
		for start := time.Now(); ; {
			for i := 0; i < 64; i++ {
				if err := p.Send(ctx, msg); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				n++
			}
			if time.Since(start) >= dur {
				break
			}
		}
		p.Detach()
		fmt.Println(n)
	case "mprecv":
		c, err := r.Consumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		buf := make([]byte, size)
		fmt.Println("ready")
		n := 0
		for {
			if _, err := c.Receive(ctx, buf); err != nil {
				if err != io.EOF {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				break
			}
			n++
		}
		c.Close()
		fmt.Println(n)
	default:
		return 2
	}
	return 0
}

func atoiOr(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
