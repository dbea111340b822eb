package main

import (
	"fmt"
	"sort"
	"time"
)

// object is one IPC object as `ipckit ls` shows it. Each area of ipckit
// contributes a lister (registerLister) and a remover (registerRemover).
type object struct {
	Kind    string    `json:"kind"`           // msg, sem, shm (SysV); posix-shm, posix-sem, mqueue
	ID      int       `json:"id"`             // SysV id; -1 for named objects
	Key     int32     `json:"key"`            // SysV key; 0 for named objects
	Name    string    `json:"name,omitempty"` // named objects, without leading slash
	Owner   string    `json:"owner"`          // owner's user name, or uid
	UID     uint32    `json:"uid"`
	GID     uint32    `json:"gid"`
	Perms   string    `json:"perms"`            // octal, like 0600
	Size    uint64    `json:"size"`             // bytes: segment size, queued bytes, file size
	Count   uint64    `json:"count"`            // queued messages, semaphores in the set, attaches
	CPID    int       `json:"cpid,omitempty"`   // creator pid where known
	LPID    int       `json:"lpid,omitempty"`   // last operator pid where known
	Changed time.Time `json:"changed"`          // last change
	Detail  string    `json:"detail,omitempty"` // kind-specific extras (e.g. mqueue NOTIFY)
}

type lister struct {
	name string
	list func() ([]object, error)
}

var listers []lister

// registerLister adds a source of objects; ls calls them in name order.
func registerLister(name string, list func() ([]object, error)) {
	listers = append(listers, lister{name, list})
	sort.Slice(listers, func(i, j int) bool { return listers[i].name < listers[j].name })
}

// removers maps an object kind to a function that removes it by the
// argument the user gave (an id, a key such as 0x1234, or a name).
var removers = map[string]func(arg string) error{}

func registerRemover(kind string, rm func(arg string) error) {
	if _, dup := removers[kind]; dup {
		panic(fmt.Sprintf("remover for %q registered twice", kind))
	}
	removers[kind] = rm
}
