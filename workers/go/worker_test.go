package sdk

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// session runs a worker on pipes and lets the test speak to it frame by frame.
type session struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *bufio.Reader
	done   chan error
	nextID int64
	worker *Worker
}

func newSession(t *testing.T) *session {
	w := NewWorker("test-worker", "0.0.1")
	w.Register("Reverse", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		text, _ := inputs["text"].(string)
		ctx.Progress(42.5, "halfway")
		ctx.Log("info", "reversing")
		runes := []rune(text)
		for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
			runes[i], runes[j] = runes[j], runes[i]
		}
		return map[string]any{"output": string(runes)}, nil
	})
	w.Register("Fail", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		return nil, Errorf("text is %v", inputs["text"])
	})
	w.Register("Plain", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		return nil, errors.New("plain failure")
	})
	w.Register("Panic", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		var m map[string]int
		m["boom"] = 1
		return nil, nil
	})
	w.Register("Wait", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return map[string]any{}, nil
		}
	})
	w.Register("Watching", func(ctx *Context, inputs, params map[string]any) (map[string]any, error) {
		return map[string]any{"cancelled": ctx.Err() != nil}, nil
	})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: bufio.NewReader(outR), done: make(chan error, 1), worker: w}
	go func() { s.done <- w.Serve(inR, outW); outW.Close() }()
	t.Cleanup(func() { inW.Close() })
	return s
}

func (s *session) write(msg Message) {
	frame, err := EncodeFrame(msg)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.in.Write(frame); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) request(method string, params any) int64 {
	s.nextID++
	msg, err := Request(s.nextID, method, params)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(msg)
	return s.nextID
}

func (s *session) read() Message {
	body, err := ReadFrame(s.out)
	if err != nil {
		s.t.Fatalf("reading a frame: %v", err)
	}
	var msg Message
	if err := json.Unmarshal(body, &msg); err != nil {
		s.t.Fatalf("bad frame %s: %v", body, err)
	}
	return msg
}

func (s *session) execute(handler string, inputs map[string]any) int64 {
	return s.request("execute", ExecuteParams{RunID: "r", NodeID: "n", Attempt: 1, NodeType: "t", Handler: handler, Inputs: inputs})
}

func TestSessionInitializeExecuteShutdownExit(t *testing.T) {
	s := newSession(t)
	s.request("initialize", InitializeParams{ProtocolVersion: "1.0", Engine: EngineInfo{"atomiton", "0.1.0"}})
	var init InitializeResult
	_ = json.Unmarshal(s.read().Result, &init)
	if init.Worker.Language != "golang" || !init.Capabilities.Cancel || strings.Join(init.Nodes, ",") != "Fail,Panic,Plain,Reverse,Wait,Watching" {
		t.Errorf("initialize result: %+v", init)
	}
	id := s.execute("Reverse", map[string]any{"text": "héllo"})
	progress, log, result := s.read(), s.read(), s.read()
	if progress.Method != "progress" || string(progress.Params) != `{"requestId":2,"percent":42.5,"message":"halfway"}` {
		t.Errorf("progress: %+v", progress)
	}
	if log.Method != "log" || string(log.Params) != `{"requestId":2,"level":"info","message":"reversing"}` {
		t.Errorf("log: %s", log.Params)
	}
	if string(result.ID) != "2" || id != 2 || string(result.Result) != `{"outputs":{"output":"olléh"}}` {
		t.Errorf("result: %s %s", result.ID, result.Result)
	}
	s.request("shutdown", nil)
	if reply := s.read(); string(reply.Result) != "null" {
		t.Errorf("shutdown result: %s", reply.Result)
	}
	exit, _ := Notification("exit", nil)
	s.write(exit)
	if err := <-s.done; err != nil {
		t.Errorf("Serve returned %v after exit", err)
	}
}

func TestErrorsCarryTypeMessageAndStack(t *testing.T) {
	s := newSession(t)
	cases := []struct{ handler, typ, message, stack string }{
		{"Fail", "NodeError", "text is 7", "worker_test.go"},
		{"Plain", "Error", "plain failure", ""},
		{"Panic", "panic", "assignment to entry in nil map", "worker_test.go"},
	}
	for _, c := range cases {
		s.execute(c.handler, map[string]any{"text": 7})
		reply := s.read()
		e := reply.Error
		if e == nil || e.Code != CodeNodeFailed || e.Data.Type != c.typ || e.Data.Message != c.message {
			t.Errorf("%s: got %+v %+v", c.handler, e, e.Data)
			continue
		}
		if !strings.Contains(e.Data.Stack, c.stack) || e.Message != c.typ+": "+c.message {
			t.Errorf("%s: message %q stack %q", c.handler, e.Message, e.Data.Stack)
		}
	}
}

func TestCancelAnswersMinus32800(t *testing.T) {
	s := newSession(t)
	id := s.execute("Wait", nil)
	cancel, _ := Notification("cancel", CancelParams{RequestID: id})
	s.write(cancel)
	reply := s.read()
	if reply.Error == nil || reply.Error.Code != CodeCancelled || reply.Error.Data.Type != "Cancelled" {
		t.Fatalf("got %+v", reply)
	}
	ignored, _ := Notification("cancel", CancelParams{RequestID: 99}) // unknown id: ignored
	s.write(ignored)
	s.execute("Reverse", map[string]any{"text": "ab"})
	s.read()
	s.read()
	if got := string(s.read().Result); got != `{"outputs":{"output":"ba"}}` {
		t.Errorf("after cancel: %s", got)
	}
}

func TestProtocolErrors(t *testing.T) {
	s := newSession(t)
	s.execute("Missing", nil)
	if e := s.read().Error; e == nil || e.Code != CodeUnknownNode || !strings.Contains(e.Message, "registered: Fail,") {
		t.Errorf("unknown handler: %+v", e)
	}
	s.request("frobnicate", nil)
	if e := s.read().Error; e == nil || e.Code != CodeMethodNotFound {
		t.Errorf("unknown method: %+v", e)
	}
	s.request("initialize", InitializeParams{ProtocolVersion: "2.0"})
	if e := s.read().Error; e == nil || e.Code != CodeInvalidRequest || !strings.Contains(e.Message, `"2.0"`) {
		t.Errorf("version mismatch: %+v", e)
	}
	s.request("execute", map[string]any{"inputs": "not an object"})
	if e := s.read().Error; e == nil || e.Code != CodeInvalidParams {
		t.Errorf("invalid params: %+v", e)
	}
	if _, err := s.in.Write([]byte("Content-Length: 3\r\n\r\n{x}")); err != nil {
		t.Fatal(err)
	}
	if reply := s.read(); reply.Error == nil || reply.Error.Code != CodeParseError || string(reply.ID) != "null" {
		t.Errorf("parse error: %+v", reply)
	}
}

func TestEndOfInputStopsRunningCalls(t *testing.T) {
	s := newSession(t)
	s.execute("Wait", nil)
	s.in.Close()
	go func() { _, _ = io.Copy(io.Discard, s.out) }()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after end of input")
	}
}

func TestResponseFrameIsTheCanonicalEncoding(t *testing.T) {
	results := []any{
		nil,
		ExecuteResult{Outputs: map[string]any{"output": "<a & b> é ✓", "n": 1.5, "list": []any{true, nil}}},
		map[string]any{},
	}
	for _, id := range []string{"7", `"req-1"`} {
		for _, result := range results {
			raw, err := EncodeBody(result)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := EncodeFrame(Message{JSONRPC: "2.0", ID: json.RawMessage(id), Result: raw})
			if got := responseFrame(json.RawMessage(id), raw); string(got) != string(want) {
				t.Errorf("id %s, result %v:\n got %q\nwant %q", id, result, got, want)
			}
		}
	}
}

func TestExecuteWithoutParamsIsInvalidParams(t *testing.T) {
	s := newSession(t)
	s.request("execute", nil)
	if e := s.read().Error; e == nil || e.Code != CodeInvalidParams {
		t.Errorf("execute without params: %+v", e)
	}
}

// A call that never looks at its context runs on the reading goroutine; the first that does
// hands reading to a goroutine of its own, and later calls still answer in order.
func TestCallsRunInlineUntilOneWatchesItsContext(t *testing.T) {
	s := newSession(t)
	s.execute("Plain", nil)
	s.read()
	if s.worker.inbox.Load() != nil {
		t.Fatal("a call that never asked for its context started reading ahead")
	}
	s.execute("Watching", nil)
	if got := string(s.read().Result); got != `{"outputs":{"cancelled":false}}` {
		t.Errorf("watching: %s", got)
	}
	if s.worker.inbox.Load() == nil {
		t.Fatal("ctx.Err() did not start reading ahead")
	}
	for _, text := range []string{"ab", "xyz"} {
		s.execute("Reverse", map[string]any{"text": text})
		s.read() // progress
		s.read() // log
		if got := s.read(); got.Result == nil {
			t.Errorf("reverse %q after the hand-over: %+v", text, got)
		}
	}
}
