package mmapring

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// withDeadSlots fills n peer slots with dead holders of role, so that a
// claimant's check for a live holder reads /proc several times (and a
// racing claimant has time to slip in, as it would on a busy host).
func withDeadSlots(r *Ring, role uint32, n int) {
	for s := 0; s < n; s++ {
		atomic.StoreUint64(r.peerIdent(s), deadIdent())
		atomic.StoreUint32(r.peerRole(s), role)
	}
}

// TestRegisterRace (item 2): many goroutines race for the producer (or
// consumer) role of an SPSC ring; exactly one wins each round. Before the
// claim-rescan-back-off protocol, two could pass the "no live holder"
// check and both take slots.
func TestRegisterRace(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	for round := 0; round < rounds; round++ {
		r := newRing(t, Config{Kind: KindSPSC, Capacity: 256})
		role := uint32(roleProducer)
		if round%2 == 1 {
			role = roleConsumer
		}
		withDeadSlots(r, role, 4)
		var wg sync.WaitGroup
		var wins atomic.Int32
		start := make(chan struct{})
		var handles sync.Map
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var err error
				if role == roleProducer {
					var p *Producer
					if p, err = r.Producer(); err == nil {
						handles.Store(g, func() { p.Detach() })
					}
				} else {
					var c *Consumer
					if c, err = r.Consumer(); err == nil {
						handles.Store(g, func() { c.Close() })
					}
				}
				switch err {
				case nil:
					wins.Add(1)
				case ErrRoleTaken:
				default:
					t.Errorf("register: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d goroutines won the SPSC role, want exactly 1", round, n)
		}
		handles.Range(func(_, v any) bool { v.(func())(); return true })
	}
}

// TestRegisterRaceProcesses (item 2): Go and C processes race for the
// producer role of one SPSC ring after a common start barrier; exactly one
// wins each round, and the role is free again once it lets go.
func TestRegisterRaceProcesses(t *testing.T) {
	c := cPeerKind(t)
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for round := 0; round < rounds; round++ {
		r := newRing(t, Config{Kind: KindSPSC, Capacity: 256})
		withDeadSlots(r, roleProducer, 4)
		var peers []*peerProc
		for i := 0; i < 6; i++ {
			pk := goPeer
			if i%2 == 1 {
				pk = c
			}
			peers = append(peers, startPeer(t, pk, r.File(), "attach", "producer"))
		}
		for _, p := range peers {
			fmt.Fprintln(p.stdin) // the barrier: all attach at once
		}
		var got []string
		for _, p := range peers {
			got = append(got, p.line(guard))
		}
		won := 0
		for _, l := range got {
			switch l {
			case "won":
				won++
			case "busy":
			default:
				t.Fatalf("round %d: attach said %q", round, l)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d processes won the SPSC producer role (%s), want exactly 1", round, won, strings.Join(got, " "))
		}
		for _, p := range peers {
			p.stdin.Close()
			p.all(guard)
		}
		p, err := r.Producer()
		if err != nil {
			t.Fatalf("round %d: the role was not released: %v", round, err)
		}
		p.Detach()
	}
}
