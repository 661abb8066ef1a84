package sdk

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTheSpinWindowComesFromTheEnvironment(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": 100 * time.Microsecond, " 250 ": 250 * time.Microsecond, "0": 0, "-5": 0} {
		t.Setenv(SpinEnv, raw)
		if got, err := spinWindow(); err != nil || got != want {
			t.Errorf("%s=%q: got %v, %v; want %v", SpinEnv, raw, got, err, want)
		}
	}
	t.Setenv(SpinEnv, "fast")
	if _, err := spinWindow(); err == nil || !strings.Contains(err.Error(), `ATOMITON_WORKER_SPIN_US="fast" is not a number`) || !strings.Contains(err.Error(), "0 turns it off") {
		t.Errorf("a window that is not a number: got %v", err)
	}
}

func TestServeRefusesASpinWindowThatIsNotANumber(t *testing.T) {
	t.Setenv(SpinEnv, "fast")
	err := NewWorker("w", "1").Serve(strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not a number") {
		t.Fatalf("Serve: got %v", err)
	}
}

// pipe gives an idleReader over the read end of an OS pipe, and the write end.
func pipe(t *testing.T, window time.Duration, idle func() bool) (*idleReader, *os.File) {
	t.Helper()
	if !pollSupported {
		t.Skip("the worker spins on Linux only")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return newIdleReader(r, window, idle), w
}

func always() bool { return true }

// writeSoon writes data to w from another goroutine in 20 ms: a request that arrives while the
// worker spins.
func writeSoon(w *os.File, data string) {
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte(data))
	}()
}

func TestARequestThatArrivesEndsTheSpin(t *testing.T) {
	ir, w := pipe(t, 10*time.Second, always)
	writeSoon(w, "request")
	start := time.Now()
	buf := make([]byte, 64)
	n, err := ir.Read(buf)
	if err != nil || string(buf[:n]) != "request" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the spin outlasted the request's arrival: %v", waited)
	}
}

func TestWindowsThatCatchNothingBackOffToOneSpinIn256(t *testing.T) {
	ir, _ := pipe(t, time.Millisecond, always)
	var seen [][2]int
	for range 9 {
		ir.wait() // a window with no request: a miss
		seen = append(seen, [2]int{ir.misses, ir.skip})
		for ir.skip > 0 {
			ir.wait() // skipped: no spin
		}
	}
	want := [][2]int{{1, 1}, {2, 3}, {3, 7}, {4, 15}, {5, 31}, {6, 63}, {7, 127}, {8, 255}, {8, 255}}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("misses and skip after each window: got %v, want %v", seen, want)
		}
	}
}

func TestARequestThatArrivesDuringASpinTakesOneStepOffTheBackOff(t *testing.T) {
	ir, w := pipe(t, 10*time.Second, always)
	stubPreemptions(t, func() int64 { return 0 }) // the spin kept its CPU
	ir.misses, ir.last = 3, time.Now()            // mid-burst, backing off
	writeSoon(w, "request")
	ir.wait()
	if ir.misses != 2 || ir.skip != 0 {
		t.Fatalf("misses %d, skip %d; want 2, 0", ir.misses, ir.skip)
	}
}

// The scheduler took the CPU during the spin: the engine likely shares this vCPU and could send
// only because the spin was interrupted, so spinning did not pay.
func TestARequestThatCameOnlyAfterAPreemptionIsAMiss(t *testing.T) {
	ir, w := pipe(t, 10*time.Second, always)
	var switches int64
	stubPreemptions(t, func() int64 { switches++; return switches })
	writeSoon(w, "request")
	ir.wait()
	if ir.misses != 1 || ir.skip != 1 {
		t.Fatalf("misses %d, skip %d; want 1, 1", ir.misses, ir.skip)
	}
}

func stubPreemptions(t *testing.T, count func() int64) {
	real := countPreemptions
	countPreemptions = count
	t.Cleanup(func() { countPreemptions = real })
}

// A burst of calls after a pause polls from its first call, whatever the last burst learned.
func TestAWaitLongAfterTheLastStartsAfresh(t *testing.T) {
	ir, _ := pipe(t, time.Millisecond, always)
	ir.misses, ir.skip = 8, 200
	ir.last = time.Now().Add(-time.Second)
	ir.wait() // spins (a miss: nothing comes), instead of skipping
	if ir.misses != 1 || ir.skip != 1 {
		t.Fatalf("misses %d, skip %d; want 1, 1", ir.misses, ir.skip)
	}
}

func TestARequestThatWasThereAlreadyChangesNothing(t *testing.T) {
	ir, w := pipe(t, 10*time.Second, always)
	ir.misses, ir.last = 3, time.Now() // mid-burst, backing off
	w.Write([]byte("request"))
	ir.wait()
	if ir.misses != 3 || ir.skip != 0 {
		t.Fatalf("misses %d, skip %d; want 3, 0", ir.misses, ir.skip)
	}
}

func TestNoSpinWhileACallRuns(t *testing.T) {
	ir, w := pipe(t, 10*time.Second, func() bool { return false })
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("cancel"))
	}()
	buf := make([]byte, 64)
	n, _ := ir.Read(buf) // blocks in read(2): a spin here would keep the CPU from the call
	if string(buf[:n]) != "cancel" || ir.misses != 0 || ir.skip != 0 {
		t.Fatalf("got %q, misses %d, skip %d", buf[:n], ir.misses, ir.skip)
	}
}

// Serve on real pipes, the worker polling between calls: every answer arrives, and the end of
// input still ends Serve.
func TestAWorkerOnPipesAnswersBackToBackCalls(t *testing.T) {
	if !pollSupported {
		t.Skip("the worker spins on Linux only")
	}
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	w := NewWorker("w", "1")
	w.Register("Echo", func(_ *Context, in, _ map[string]any) (map[string]any, error) { return in, nil })
	done := make(chan error, 1)
	go func() { done <- w.Serve(inR, outW); outW.Close() }()
	reader := bufio.NewReader(outR)
	for i := range 50 {
		frame, _ := EncodeFrame(map[string]any{"jsonrpc": "2.0", "id": i + 1, "method": "execute",
			"params": map[string]any{"handler": "Echo", "inputs": map[string]any{"n": i}}})
		inW.Write(frame)
		body, err := ReadFrame(reader)
		if err != nil || !bytes.Contains(body, []byte(`"outputs":{"n":`)) {
			t.Fatalf("call %d: %s, %v", i, body, err)
		}
	}
	inW.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return at the end of input")
	}
}
