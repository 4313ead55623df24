//go:build !race

package main

// raceBuild is set under the race detector, which slows training tenfold
// or more: long tests take fewer steps.
const raceBuild = false
