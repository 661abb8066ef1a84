package sdk

import (
	"syscall"
	"unsafe"
)

const pollSupported = true

// pollFd is struct pollfd of poll(2).
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const pollIn = 0x1

// readable reports whether fd has input (or its end) now, without blocking: ppoll(2) with a
// zero timeout.
func readable(fd int) bool {
	pfd := pollFd{fd: int32(fd), events: pollIn}
	var zero syscall.Timespec
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
		uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	return errno == 0 && n > 0
}

// rusageThread is RUSAGE_THREAD of getrusage(2) (Linux 2.6.26+; not in package syscall).
const rusageThread = 1

// preemptions counts the times the scheduler took the CPU from this OS thread (ru_nivcsw); the
// caller keeps its goroutine on the thread (runtime.LockOSThread) while it compares counts.
func preemptions() int64 {
	var usage syscall.Rusage
	if syscall.Getrusage(rusageThread, &usage) != nil {
		return -1
	}
	return int64(usage.Nivcsw)
}
