//go:build !linux

package sdk

// pollSupported is false off Linux: the worker blocks for its next request at once.
const pollSupported = false

func readable(int) bool { return true }

func preemptions() int64 { return 0 }
