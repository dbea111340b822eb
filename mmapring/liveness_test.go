package mmapring

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	testenv.RegisterChild("late-peer", lateGoPeer)
}

// lateGoPeer is the Go side of "ring_liveness_peer late": FD ROLE.
func lateGoPeer(args []string) int {
	time.Sleep(1500 * time.Millisecond)
	var detach func()
	testenv.OnNewThread(func() {
		r, err := ringFromFD(int(atoi(args[0])))
		if err == nil {
			if args[1] == "producer" {
				var p *Producer
				if p, err = r.Producer(); err == nil {
					detach = func() { p.Detach() }
				}
			} else {
				var c *Consumer
				if c, err = r.Consumer(); err == nil {
					detach = func() { c.Close() }
				}
			}
		}
		if err != nil {
			fmt.Println("err", err)
			return
		}
		fmt.Println("won")
	})
	if detach == nil {
		return 1
	}
	bufio.NewReader(os.Stdin).ReadString(0) // until EOF
	detach()
	return 0
}

// TestPeerOnLateThread: a peer that takes its role (and so looks up its
// own identity for the first time) on a thread made long after its
// process started is seen alive by the other processes on the ring.
// qemu-user answers /proc/self/stat and /proc/PID/stat, when a guest reads
// its own, with the start time of the calling thread: such a peer used to
// record a start time seconds after the one the kernel shows everyone
// else, and was taken for a newer process that reused a dead one's pid
// (Stats said dead, CheckPeers said ErrPeerDead, an MPMC repair would
// have skipped its claimed cells, a second SPSC producer could take its
// role). The test fails that way only under qemu-user (the qemu leg);
// natively every thread sees the process's start time.
func TestPeerOnLateThread(t *testing.T) {
	cbin := livenessPeer(t)
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		for _, pk := range []string{"go", "c"} {
			for _, role := range []string{"producer", "consumer"} {
				t.Run(kind.String()+"/"+pk+"/"+role, func(t *testing.T) {
					t.Parallel()
					r := newRing(t, cfgFor(kind))
					var p *peerProc
					if pk == "go" {
						p = startPeerCmd(t, testenv.Child(t, "late-peer", "3", role), r.File())
					} else {
						p = startPeerCmd(t, testenv.Command(cbin, "late", "3", role), r.File())
					}
					if l := p.line(time.Minute); l != "won" {
						t.Fatalf("peer: %q", l)
					}
					st, err := r.Stats()
					if err != nil {
						t.Fatal(err)
					}
					if len(st.Peers) != 1 || !st.Peers[0].Alive {
						t.Errorf("peers %+v, want the %s peer (pid %d) alive", st.Peers, pk, p.cmd.Process.Pid)
					}
					var perr error
					if role == "producer" {
						c, err := r.Consumer()
						if err != nil {
							t.Fatal(err)
						}
						perr = c.CheckPeers()
						c.Close()
					} else {
						q, err := r.Producer()
						if err != nil {
							t.Fatal(err)
						}
						perr = q.CheckPeers(8)
						q.Detach()
					}
					if errors.Is(perr, ErrPeerDead) {
						t.Errorf("CheckPeers with the %s peer alive: %v", pk, perr)
					}
					p.stdin.Close()
					if err := p.wait(); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

func livenessPeer(t *testing.T) string {
	return testenv.BuildC(t, "", "ring_liveness_peer", []string{"ring_liveness_peer.c"}, "-I", filepath.Join(testenv.Root(), "mmapring"))
}

// TestPeerLeavesWhileJudged: a peer that leaves cleanly (a producer's
// Detach, a consumer's Close) and exits between the moment a liveness
// check reads its slot and the moment it tests its process is not taken
// for a peer that died holding the role. The check used to conclude
// "every producer is dead" from the stale ident, and a blocked Receive
// (or Send, for consumers) returned ErrPeerDead although nobody died; a
// peer killed holding the role still counts as dead. The judge (Go's
// peersDead, the header's mmr_peers_dead) stops right after the read
// (the peerLoaded hook, MMR_TEST_PEER_LOADED) while the test makes the
// victim leave or kills it.
func TestPeerLeavesWhileJudged(t *testing.T) {
	cbin := livenessPeer(t)
	forEachPeer(t, func(t *testing.T, vk peerKind) { // the victim
		for _, judge := range []string{"go", "c"} {
			for _, role := range []string{"producer", "consumer"} {
				for _, how := range []string{"leave", "kill"} {
					t.Run(judge+"-judge/"+role+"/"+how, func(t *testing.T) {
						r := newRing(t, cfgFor(KindMPMC))
						v := startPeer(t, vk, r.File(), "attach", role)
						io.WriteString(v.stdin, "\n") // the start barrier
						if l := v.line(time.Minute); l != "won" {
							t.Fatalf("victim: %q", l)
						}
						// act makes the victim leave cleanly or kills it, and
						// reaps it.
						act := func() {
							if how == "leave" {
								v.stdin.Close()
								if err := v.wait(); err != nil {
									t.Errorf("victim: %v", err)
								}
							} else {
								v.kill()
							}
						}
						roleBit := uint32(roleProducer)
						if role == "consumer" {
							roleBit = roleConsumer
						}
						var dead bool
						if judge == "go" {
							calls := 0
							peerLoaded = func(int) {
								if calls++; calls == 1 {
									act()
								}
							}
							dead = r.peersDead(roleBit)
							peerLoaded = nil
							if calls != 1 {
								t.Fatalf("peersDead read %d peers, want the victim only", calls)
							}
						} else {
							j := startPeerCmd(t, testenv.Command(cbin, "judge", "3", role), r.File())
							if l := j.line(time.Minute); l != "loaded" {
								t.Fatalf("judge: %q", l)
							}
							act()
							io.WriteString(j.stdin, "\n")
							l := j.line(time.Minute)
							if l != "dead" && l != "notdead" {
								t.Fatalf("judge: %q", l)
							}
							dead = l == "dead"
						}
						if want := how == "kill"; dead != want {
							t.Fatalf("victim %s: every %s dead = %v, want %v", how, role, dead, want)
						}
					})
				}
			}
		}
	})
}
