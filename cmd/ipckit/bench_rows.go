package main

import (
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/shmheap/heapbench"
)

// The rows of `ipckit bench`, in table order, and the targets that compare
// them.
//
// To add a row: write its conn (send/recv/closeSend/close) and a setup for
// the parent and an open for the re-executed child in a bench_*.go file
// (or custom tput/rtt functions, or an inproc pair), then add one line
// here. Its name is how -only and -baseline find it, how the child knows
// which row it serves, and what targets refer to.
var transports = []*transport{
	{name: nameSPSC, short: "SPSC", setup: ringSetup(mmapring.KindSPSC), open: ringOpen, mode: "spin"},
	{name: nameSPSCBatch, tputOnly: true, batch: true, setup: ringSetup(mmapring.KindSPSC), open: ringOpen, mode: "spin"},
	{name: nameSPSCCRC, short: "SPSC CRC32C", setup: ringSetup(mmapring.KindSPSC), open: ringOpen, mode: "checksum"},
	{name: nameSPSCSleep, rttOnly: true, setup: ringSetup(mmapring.KindSPSC), open: ringOpen, mode: "sleep"},
	{name: nameMPMC, short: "MPMC", setup: ringSetup(mmapring.KindMPMC), open: ringOpen, mode: "spin"},
	{name: nameCRing, short: "C ring", tput: cTput(mmapring.KindSPSC), rtt: cRTT(mmapring.KindSPSC)},
	{name: nameCMPMC, short: "C MPMC", tput: cTput(mmapring.KindMPMC), rtt: cRTT(mmapring.KindMPMC)},
	{name: nameMPMC2, tputOnly: true, tput: pcTput(2, "go"), sizeOK: pcSizeOK(2)},
	{name: nameCMPMC2, tputOnly: true, tput: pcTput(2, "c"), sizeOK: pcSizeOK(2)},
	{name: nameMPMC4, tputOnly: true, tput: pcTput(4, "go"), sizeOK: pcSizeOK(4)},
	{name: nameCMPMC4, tputOnly: true, tput: pcTput(4, "c"), sizeOK: pcSizeOK(4)},
	{name: nameCppSPSC, short: "C++ SPSC", tputOnly: true, tput: cppTput},
	{name: namePipe, short: "pipe", setup: pipeSetup, open: pipeOpen},
	{name: nameSock, short: "socketpair", setup: sockSetup, open: sockOpen},
	{name: nameSysV, short: "SysV msg", setup: sysvSetup, open: sysvOpen, sizeOK: sysvSizeOK},
	{name: nameMQ, short: "POSIX mq", setup: mqSetup, open: mqOpen, sizeOK: mqSizeOK},
	{name: nameChan, short: "chan", inproc: chanPair},
	{name: nameCSP8, short: "csp int64", setup: cspSetup[int64], open: cspOpen[int64], sizeOK: cspSizeOK[int64]},
	{name: nameCSP64, short: "csp struct", setup: cspSetup[csp64], open: cspOpen[csp64], sizeOK: cspSizeOK[csp64]},
	{name: nameRawLine, rttOnly: true, rtt: rawRTT("line")},
	{name: nameRawFutex, rttOnly: true, rtt: rawRTT("futex")},
	{name: nameHeapAppend, short: "Vector.Append", tputOnly: true, tput: heapTput(heapbench.VectorAppend), sizeOK: heapSizeOK},
	{name: nameHeapMap, tputOnly: true, tput: heapTput(heapbench.MapGetPut), sizeOK: heapSizeOK},
	{name: nameHeapNSRaw, short: "Namespace (Raw)", tputOnly: true, tput: heapTput(heapbench.NamespaceRaw), sizeOK: heapSizeOK},
	{name: nameHeapNSGob, tputOnly: true, tput: heapTput(heapbench.NamespaceGob), sizeOK: heapSizeOK},
	{name: namePyAppend, short: "Manager list.append", tputOnly: true, tput: heapTput(heapbench.PythonListAppend), sizeOK: heapSizeOK},
	{name: namePyNSSet, short: "Manager Namespace set", tputOnly: true, tput: heapTput(heapbench.PythonNSSet), sizeOK: heapSizeOK},
}

// Row names (the targets refer to them).
const (
	nameSPSC      = "mmapring SPSC"
	nameSPSCBatch = "mmapring SPSC SendBatch(32)"
	nameSPSCSleep = "mmapring SPSC no-spin (sleeping)"
	nameSPSCCRC   = "mmapring SPSC Checksum (CRC32C)"
	nameMPMC      = "mmapring MPMC"
	nameCRing     = "C ring (mmapring.h)"
	nameCMPMC     = "C MPMC (mmapring.h)"
	nameMPMC2     = "mmapring MPMC 2×2 procs"
	nameCMPMC2    = "C MPMC (mmapring.h) 2×2 procs"
	nameMPMC4     = "mmapring MPMC 4×4 procs"
	nameCMPMC4    = "C MPMC (mmapring.h) 4×4 procs"
	nameCppSPSC   = "C++ SPSC queue (2 threads, 1 process)"
	namePipe      = "pipe"
	nameSock      = "unix socketpair"
	nameSysV      = "SysV msg queue"
	nameMQ        = "POSIX mq"
	nameChan      = "Go chan (1 process)"
	nameCSP8      = "csp.Chan[int64] (raw, one-to-one)"
	nameCSP64     = "csp.Chan[64-byte struct] (raw, one-to-one)"
	nameRawLine   = "raw cache-line ping-pong"
	nameRawFutex  = "raw futex ping-pong"

	nameHeapAppend = heapbench.VectorAppend + " ×4 procs"
	nameHeapMap    = heapbench.MapGetPut + " ×4 procs"
	nameHeapNSRaw  = heapbench.NamespaceRaw + " ×4 procs"
	nameHeapNSGob  = heapbench.NamespaceGob + " ×4 procs"
	namePyAppend   = heapbench.PythonListAppend + " ×4 procs"
	namePyNSSet    = heapbench.PythonNSSet + " ×4 procs"
)

// benchTargets are the project's targets, as ratios between two rows of
// one run: a's value over b's, at the given message size. Throughput
// targets want at least `want`; round-trip ones (rtt) at most.
var benchTargets = []benchTarget{
	{desc: "SPSC throughput ≥ 0.8× C ring", a: nameSPSC, b: nameCRing, want: 0.8, size: 64},
	{desc: "SPSC throughput ≥ 2× Go channel (one process)", a: nameSPSC, b: nameChan, want: 2, size: 64},
	{desc: "SPSC throughput ≥ 15× pipe", a: nameSPSC, b: namePipe, want: 15, size: 64},
	{desc: "SPSC RTT p50 ≤ 2× raw cache-line ping-pong", a: nameSPSC, b: nameRawLine, rtt: true, want: 2, size: 64},
	{desc: "sleeping SPSC wake-up RTT p50 ≤ 1.3× raw futex ping-pong", a: nameSPSCSleep, b: nameRawFutex, rtt: true, want: 1.3, size: 64},
	{desc: "SPSC MB/s ≥ 0.9× C ring (copy-bound)", a: nameSPSC, b: nameCRing, want: 0.9, size: 65536},
	{desc: "SPSC MB/s ≥ 0.9× C ring (copy-bound)", a: nameSPSC, b: nameCRing, want: 0.9, size: 1 << 20},
	{desc: "SPSC SendBatch(32) ≥ 1× a C++ SPSC queue between two threads (moonshot)", a: nameSPSCBatch, b: nameCppSPSC, want: 1, size: 64},
	{desc: "MPMC throughput ≥ 0.8× C MPMC (1×1)", a: nameMPMC, b: nameCMPMC, want: 0.8, size: 64},
	{desc: "MPMC throughput ≥ 0.8× C MPMC (2×2 processes)", a: nameMPMC2, b: nameCMPMC2, want: 0.8, size: 64},
	{desc: "shmheap Vector.Append ≥ 100× Python Manager list.append (ops/s, 4 processes)", a: nameHeapAppend, b: namePyAppend, want: 100, size: 64},
	{desc: "shmheap Namespace Set/Get (Raw) ≥ 100× Python Manager Namespace set (ops/s, 4 processes)", a: nameHeapNSRaw, b: namePyNSSet, want: 100, size: 64},
}
