package sdk

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Busy polling, the worker's leg (docs/worker-protocol.md, "Busy polling"): having answered, a
// worker polls its stdin for the next request for up to ATOMITON_WORKER_SPIN_US microseconds
// (default 100, 0 turns it off) before it blocks in read(2). On a virtual machine a process that
// sleeps costs ~20 µs to wake from another vCPU; a worker still polling when the request lands
// pays none of it. The engine spins the same way for the answer.
//
// The spin keeps its thread and processor (with GOMAXPROCS=1, as the engine starts Go workers,
// other goroutines wait for the window to end), so it backs off where it does not pay: a window
// that ends with no request, or with one that came only after the scheduler took the CPU from
// the spinning thread (the sign of sharing a vCPU with the engine, which cannot send while the
// worker spins), doubles a back-off: the next 1, 3, 7 ... 255 waits skip the spin. A request that
// arrives during a spin takes one step off it (one there already changes nothing), and a wait more
// than 10 ms after the previous one starts afresh, so a burst of calls after a pause polls from
// its first call. The same rule as the Python and Node.js workers'. Linux only; elsewhere the
// worker blocks at once. Once a call has watched its context (see Worker.watch), readAhead
// reads while calls run, when no spin is due, so from then on the worker blocks at once too.

// SpinEnv names the environment variable that sets the spin window, in microseconds.
const SpinEnv = "ATOMITON_WORKER_SPIN_US"

const (
	defaultSpin = 100 * time.Microsecond
	maxBackoff  = 8                     // at worst, one wait in 2^8 spins
	freshAfter  = 10 * time.Millisecond // a wait this long after the previous one starts afresh
)

// spinWindow is the window the environment sets, or an error that says how to fix it.
func spinWindow() (time.Duration, error) {
	raw := strings.TrimSpace(os.Getenv(SpinEnv))
	if raw == "" {
		return defaultSpin, nil
	}
	micros, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number: set it to the microseconds a worker may spin waiting for a request (default %d, 0 turns it off)", SpinEnv, raw, defaultSpin.Microseconds())
	}
	return time.Duration(max(0, micros) * float64(time.Microsecond)), nil
}

// countPreemptions is preemptions, replaceable in tests.
var countPreemptions = preemptions

// idleReader is the worker's input: before a read that would block while no call runs, it
// polls for the next request for up to the window.
type idleReader struct {
	r      io.Reader
	fd     int // -1: r is not a file descriptor that can be polled
	window time.Duration
	idle   func() bool // true while no call runs (a running call keeps the CPU)
	skip   int         // reads left to block without spinning (the back-off)
	misses int         // windows that did not pay, less those that did (0 to maxBackoff)
	last   time.Time   // when the previous wait began
}

func newIdleReader(r io.Reader, window time.Duration, idle func() bool) *idleReader {
	ir := &idleReader{r: r, fd: -1, window: window, idle: idle}
	if f, ok := r.(*os.File); ok && window > 0 && pollSupported {
		if raw, err := f.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) { ir.fd = int(fd) })
		}
	}
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if ir.fd >= 0 && ir.idle() {
		ir.wait()
	}
	return ir.r.Read(p)
}

// wait returns once the input is readable or the window has passed.
func (ir *idleReader) wait() {
	now := time.Now()
	if now.Sub(ir.last) > freshAfter {
		ir.misses, ir.skip = 0, 0
	}
	ir.last = now
	if ir.skip > 0 {
		ir.skip--
		return
	}
	if readable(ir.fd) {
		return // the request was there already: this says nothing about spinning
	}
	runtime.LockOSThread() // the preemption count is this thread's
	defer runtime.UnlockOSThread()
	preempted := countPreemptions()
	end := time.Now().Add(ir.window)
	for !readable(ir.fd) {
		if time.Now().After(end) {
			ir.backOff()
			return
		}
	}
	if countPreemptions() == preempted {
		ir.misses = max(0, ir.misses-1)
	} else {
		ir.backOff()
	}
}

func (ir *idleReader) backOff() {
	ir.misses = min(ir.misses+1, maxBackoff)
	ir.skip = 1<<ir.misses - 1
}
