package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Handler runs one node call: inputs arrive on edges, params are the node's parameters.
type Handler func(ctx *Context, inputs, params map[string]any) (map[string]any, error)

// Worker holds registered handlers and serves them over one connection.
type Worker struct {
	Name     string
	Version  string
	handlers map[string]Handler

	out     io.Writer
	writeMu sync.Mutex
	mu      sync.Mutex
	running map[int64]context.CancelFunc

	reader   *bufio.Reader
	inbox    atomic.Pointer[chan frameRead] // set once a call watches its context (see watch)
	watching sync.Once
}

// frameRead is one frame, or the error that ended reading, passed from readAhead to Serve.
type frameRead struct {
	body []byte
	err  error
}

// NewWorker makes an empty worker; most programs use the package-level Register and Serve.
func NewWorker(name, version string) *Worker {
	return &Worker{Name: name, Version: version, handlers: map[string]Handler{}}
}

// Register adds a handler under the name a node's runtime.handler uses.
func (w *Worker) Register(name string, h Handler) {
	if _, dup := w.handlers[name]; dup {
		panic(fmt.Sprintf("sdk: handler %q registered twice", name))
	}
	w.handlers[name] = h
}

// Serve answers requests from r on out until exit or end of input. It returns nil on a clean
// exit, the framing error that made further reading impossible, or, before reading anything,
// the error of an ATOMITON_WORKER_SPIN_US that is not a number. When r is an *os.File (stdin),
// Serve polls it for a short window after each answer (see idlespin.go).
func (w *Worker) Serve(r io.Reader, out io.Writer) error {
	w.out, w.running = out, map[int64]context.CancelFunc{}
	window, err := spinWindow()
	if err != nil {
		return err
	}
	w.reader = bufio.NewReaderSize(newIdleReader(r, window, w.idle), 64*1024)
	for {
		body, err := w.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if w.fastExecute(body) {
			continue
		}
		var msg Message
		if err := json.Unmarshal(body, &msg); err != nil {
			w.send(ErrorResponse(nil, &ErrorObject{Code: CodeParseError, Message: "parse error: " + err.Error()}))
			continue
		}
		if msg.JSONRPC != "2.0" || msg.Method == "" {
			w.send(ErrorResponse(msg.ID, &ErrorObject{Code: CodeInvalidRequest, Message: "invalid request: expected a JSON-RPC 2.0 request or notification"}))
			continue
		}
		if len(msg.ID) == 0 { // a notification
			switch msg.Method {
			case "cancel":
				var p CancelParams
				if json.Unmarshal(msg.Params, &p) == nil {
					w.cancel(p.RequestID)
				}
			case "exit":
				return nil
			}
			continue
		}
		w.request(msg)
	}
}

func (w *Worker) request(msg Message) {
	switch msg.Method {
	case "initialize":
		var p InitializeParams
		if err := json.Unmarshal(msg.Params, &p); err != nil {
			w.fail(msg.ID, CodeInvalidParams, "invalid initialize params: "+err.Error())
			return
		}
		if major(p.ProtocolVersion) != major(ProtocolVersion) {
			w.fail(msg.ID, CodeInvalidRequest, fmt.Sprintf("protocol version %q is not supported; this worker speaks %s", p.ProtocolVersion, ProtocolVersion))
			return
		}
		w.reply(msg.ID, InitializeResult{
			ProtocolVersion: ProtocolVersion,
			Worker:          WorkerInfo{Name: w.Name, Language: "golang", Version: w.Version, PID: os.Getpid()},
			Capabilities:    Capabilities{Cancel: true, Progress: true, Logs: true},
			Nodes:           w.names(),
		})
	case "execute":
		var p ExecuteParams
		var id int64
		if err := json.Unmarshal(msg.Params, &p); err != nil || json.Unmarshal(msg.ID, &id) != nil {
			w.fail(msg.ID, CodeInvalidParams, fmt.Sprintf("invalid execute params: %v", err))
			return
		}
		w.start(msg.ID, id, p)
	case "shutdown":
		w.reply(msg.ID, nil)
	default:
		w.fail(msg.ID, CodeMethodNotFound, fmt.Sprintf("method %q not found", msg.Method))
	}
}

// executeMessage is an execute request decoded in one pass (see fastExecute).
type executeMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  *ExecuteParams  `json:"params"`
}

var executeMethod = []byte(`"method":"execute"`)

// fastExecute starts body's call when body is a well-formed execute request, decoding it once
// (the generic path decodes the envelope, then the params again). Anything else, or anything
// malformed, returns false and takes the generic path, which reports the error.
func (w *Worker) fastExecute(body []byte) bool {
	if !bytes.Contains(body, executeMethod) {
		return false
	}
	var msg executeMessage
	var id int64
	if json.Unmarshal(body, &msg) != nil || msg.JSONRPC != "2.0" || msg.Method != "execute" ||
		msg.Params == nil || json.Unmarshal(msg.ID, &id) != nil {
		return false
	}
	w.start(msg.ID, id, *msg.Params)
	return true
}

// next is the next frame: read here while no call has watched its context, from readAhead after.
func (w *Worker) next() ([]byte, error) {
	if inbox := w.inbox.Load(); inbox != nil {
		f := <-*inbox
		return f.body, f.err
	}
	return ReadFrame(w.reader)
}

// watch hands reading over to a goroutine of its own (readAhead), for the rest of the worker's
// life, the first time a call looks at its context: from then on a cancel reaches Done() while
// a call runs. Until then calls run inline on the reading goroutine, which saves a goroutine
// switch per call (~7-12 µs of a warm round trip), and a cancel waits in the pipe until the
// call returns, as it would for a handler that never looks at Done().
func (w *Worker) watch() {
	w.watching.Do(func() {
		inbox := make(chan frameRead, 1024)
		go w.readAhead(inbox)
		w.inbox.Store(&inbox)
	})
}

// readAhead reads every frame from now on: a cancel takes effect at once, anything else waits
// in the inbox for Serve; the end of input cancels the running calls, as the engine has gone.
func (w *Worker) readAhead(inbox chan<- frameRead) {
	for {
		body, err := ReadFrame(w.reader)
		if err != nil {
			w.cancelAll()
			inbox <- frameRead{err: err}
			return
		}
		if id, ok := cancelTarget(body); ok {
			w.cancel(id)
			continue
		}
		inbox <- frameRead{body: body}
		// Let Serve take the frame now: blocked in read(2), this goroutine would hold the only
		// processor until the scheduler noticed (~20 µs with GOMAXPROCS=1).
		runtime.Gosched()
	}
}

var cancelMethod = []byte(`"method":"cancel"`)

// cancelTarget is the request id of a well-formed cancel notification.
func cancelTarget(body []byte) (int64, bool) {
	if !bytes.Contains(body, cancelMethod) {
		return 0, false
	}
	var msg Message
	var p CancelParams
	if json.Unmarshal(body, &msg) != nil || msg.Method != "cancel" || len(msg.ID) != 0 ||
		json.Unmarshal(msg.Params, &p) != nil {
		return 0, false
	}
	return p.RequestID, true
}

// start runs one execute request on this goroutine (see watch for how cancel still arrives).
func (w *Worker) start(raw json.RawMessage, id int64, p ExecuteParams) {
	handler, ok := w.handlers[p.Handler]
	if !ok {
		w.fail(raw, CodeUnknownNode, fmt.Sprintf("no handler %q is registered in %s; registered: %s", p.Handler, w.Name, strings.Join(w.names(), ", ")))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.mu.Lock()
	w.running[id] = cancel
	w.mu.Unlock()
	w.execute(raw, id, handler, &Context{
		Context: ctx, RunID: p.RunID, NodeID: p.NodeID, NodeType: p.NodeType, Attempt: p.Attempt,
		ArtifactDir: p.ArtifactDir, Variables: p.Variables, requestID: id, worker: w,
	}, p)
}

func (w *Worker) execute(raw json.RawMessage, id int64, h Handler, ctx *Context, p ExecuteParams) {
	outputs, failure := run(h, ctx, p)
	w.mu.Lock()
	cancel := w.running[id]
	delete(w.running, id)
	w.mu.Unlock()
	if ctx.Context.Err() != nil { // not ctx.Err(): that would start reading ahead (see watch)
		message := fmt.Sprintf("request %d was cancelled", id)
		w.send(ErrorResponse(raw, &ErrorObject{Code: CodeCancelled, Message: message, Data: &ErrorData{Type: "Cancelled", Message: message}}))
	} else if failure != nil {
		text := failure.Message
		if failure.Type != "" {
			text = failure.Type + ": " + text
		}
		w.send(ErrorResponse(raw, &ErrorObject{Code: CodeNodeFailed, Message: text, Data: failure}))
	} else {
		if outputs == nil {
			outputs = map[string]any{}
		}
		w.reply(raw, ExecuteResult{Outputs: outputs})
	}
	cancel()
}

// run calls the handler inside the error boundary: a panic becomes a failure with its stack.
func run(h Handler, ctx *Context, p ExecuteParams) (outputs map[string]any, failure *ErrorData) {
	defer func() {
		if value := recover(); value != nil {
			outputs, failure = nil, panicked(value)
		}
	}()
	outputs, err := h(ctx, orEmpty(p.Inputs), orEmpty(p.Parameters))
	if err != nil {
		return nil, describe(err)
	}
	return outputs, nil
}

// idle reports whether no call is running.
func (w *Worker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running) == 0
}

func (w *Worker) cancel(id int64) {
	w.mu.Lock()
	cancel := w.running[id]
	w.mu.Unlock()
	if cancel != nil { // a cancel for a finished or unknown call is ignored
		cancel()
	}
}

// cancelAll cancels the calls still running: the engine has gone (see readAhead).
func (w *Worker) cancelAll() {
	w.mu.Lock()
	for _, cancel := range w.running {
		cancel()
	}
	w.mu.Unlock()
}

func (w *Worker) names() []string {
	names := make([]string, 0, len(w.handlers))
	for name := range w.handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (w *Worker) reply(id json.RawMessage, result any) {
	raw, err := EncodeBody(result)
	if err != nil {
		w.send(ErrorResponse(id, &ErrorObject{Code: CodeNodeFailed, Message: "cannot encode the result as JSON: " + err.Error(),
			Data: &ErrorData{Type: "EncodeError", Message: err.Error()}}))
		return
	}
	w.write(responseFrame(id, raw))
}

func (w *Worker) fail(id json.RawMessage, code int, message string) {
	w.send(ErrorResponse(id, &ErrorObject{Code: code, Message: message}))
}

func (w *Worker) notify(method string, params any) {
	if msg, err := Notification(method, params); err == nil {
		w.send(msg)
	}
}

func (w *Worker) send(msg Message) {
	frame, err := EncodeFrame(msg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sdk: cannot encode a %s message: %v\n", msg.Method, err)
		return
	}
	w.write(frame)
}

// write sends one whole frame; frames from concurrent calls never interleave.
func (w *Worker) write(frame []byte) {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if _, err := w.out.Write(frame); err != nil {
		fmt.Fprintf(os.Stderr, "sdk: cannot write to the engine: %v\n", err)
	}
}

func major(version string) string {
	head, _, _ := strings.Cut(version, ".")
	return head
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

var defaultWorker = NewWorker(filepath.Base(os.Args[0]), "1.0.0")

// Register adds a handler to the worker that Serve runs.
func Register(name string, h Handler) { defaultWorker.Register(name, h) }

// Serve runs the worker on stdin/stdout and exits the process: status 0 on exit or end of
// input, 1 on a broken stream. Call it last in main.
func Serve() {
	if err := defaultWorker.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", defaultWorker.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}
