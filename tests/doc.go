// Package tests holds ipckit's cross-process, C, Python and
// cross-architecture tests. It exports nothing; its C and Python peers live
// under tests/c and tests/py and are built by the tests themselves.
package tests
