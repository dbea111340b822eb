package mmapring

import _ "embed"

// CHeader is the text of mmapring.h, the single-file C implementation of
// the same protocol (layout version 2), so a Go program can write it out
// for C peers (ipckit bench does, to build its C ring at run time).
//
//go:embed mmapring.h
var CHeader string
