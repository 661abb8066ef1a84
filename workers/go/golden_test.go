package sdk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var goldenDir = filepath.Join("..", "..", "schemas", "golden", "worker")

// typed decodes a golden body into the SDK's own types and encodes it back, so that the test
// pins the structs (field names, order, omitempty), not just a raw pass-through.
func typed(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	var msg Message
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	retype := func(target any, raw *json.RawMessage) {
		if err := json.Unmarshal(*raw, target); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		encoded, err := EncodeBody(target)
		if err != nil {
			t.Fatal(err)
		}
		*raw = encoded
	}
	switch name {
	case "initialize.request":
		retype(&InitializeParams{}, &msg.Params)
	case "initialize.result":
		retype(&InitializeResult{}, &msg.Result)
	case "execute.request":
		retype(&ExecuteParams{}, &msg.Params)
	case "execute.result", "execute.result.ref":
		var result ExecuteResult
		_ = json.Unmarshal(msg.Result, &result)
		for port, value := range result.Outputs { // a worker makes references with RefValue
			if ref, ok := ParseRef(value); ok {
				result.Outputs[port] = RefValue(ref.Kind, ref.Path, ref.MediaType)
			}
		}
		msg.Result, _ = EncodeBody(result)
	case "progress":
		retype(&ProgressParams{}, &msg.Params)
	case "log":
		retype(&LogParams{}, &msg.Params)
	case "cancel":
		retype(&CancelParams{}, &msg.Params)
	}
	out, err := EncodeBody(msg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoldenBodiesRoundTripByteForByte(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no golden frames under %s", goldenDir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if strings.HasPrefix(name, "evaluate.") || name == "ref-value" {
			continue // the Node.js worker's method; a bare value, tested below
		}
		want, _ := os.ReadFile(file)
		if got := typed(t, name, want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestGoldenRefValue(t *testing.T) {
	want, _ := os.ReadFile(filepath.Join(goldenDir, "ref-value.json"))
	var value any
	if err := json.Unmarshal(want, &value); err != nil {
		t.Fatal(err)
	}
	ref, ok := ParseRef(value)
	if !ok {
		t.Fatalf("ParseRef did not recognise %s", want)
	}
	got, _ := EncodeBody(RefValue(ref.Kind, ref.Path, ref.MediaType))
	if !bytes.Equal(got, want) {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestGoldenSessionFrames(t *testing.T) {
	stream, err := os.ReadFile(filepath.Join(goldenDir, "frames.txt"))
	if err != nil {
		t.Fatal(err)
	}
	order, _ := os.ReadFile(filepath.Join(goldenDir, "frames.order"))
	reader := bufio.NewReader(bytes.NewReader(stream))
	var rebuilt []byte
	for _, name := range strings.Fields(string(order)) {
		body, err := ReadFrame(reader)
		if err != nil {
			t.Fatalf("frame %s: %v", name, err)
		}
		want, _ := os.ReadFile(filepath.Join(goldenDir, name+".json"))
		if !bytes.Equal(body, want) {
			t.Errorf("frame %s: got %s want %s", name, body, want)
		}
		var msg Message
		_ = json.Unmarshal(body, &msg)
		frame, _ := EncodeFrame(msg)
		rebuilt = append(rebuilt, frame...)
	}
	if !bytes.Equal(rebuilt, stream) {
		t.Errorf("re-encoded session differs from frames.txt")
	}
}

func TestReadFrameRejectsBadHeaders(t *testing.T) {
	cases := map[string]string{
		"X-Other: 1\r\n\r\n{}":                    "unexpected frame header",
		"Content-Length: ten\r\n\r\n{}":           "not a byte count",
		"Content-Type: json\r\n\r\n{}":            "no Content-Length",
		"Content-Length: 9\r\n\r\n{}":             "reading 9-byte frame body",
		strings.Repeat("Content-Type: x\r\n", 80): "over 1024 bytes",
	}
	for input, want := range cases {
		_, err := ReadFrame(bufio.NewReader(strings.NewReader(input)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", input[:20], err, want)
		}
	}
	body, err := ReadFrame(bufio.NewReader(strings.NewReader("content-length: 2\r\nContent-Type: application/json\r\n\r\n{}")))
	if err != nil || string(body) != "{}" {
		t.Errorf("case-insensitive header: got %q, %v", body, err)
	}
}
