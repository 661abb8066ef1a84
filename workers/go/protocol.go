package sdk

import "encoding/json"

// ProtocolVersion is the worker protocol version this SDK speaks.
const ProtocolVersion = "1.0"

// JSON-RPC error codes of the worker protocol.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeNodeFailed     = -32000
	CodeUnknownNode    = -32001
	CodeCancelled      = -32800
)

// Message is one JSON-RPC 2.0 message. Field order is the canonical key order; ID, Result and
// Params stay raw so that "id": null and "result": null survive a round trip.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *ErrorObject    `json:"error,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// ErrorObject is a JSON-RPC error; Data describes the original failure.
type ErrorObject struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *ErrorData `json:"data,omitempty"`
}

// ErrorData is the original error's type, message and stack.
type ErrorData struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Stack   string `json:"stack"`
}

// EngineInfo names the engine in initialize.
type EngineInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InitializeParams are the params of the initialize request.
type InitializeParams struct {
	ProtocolVersion string     `json:"protocolVersion"`
	Engine          EngineInfo `json:"engine"`
}

// WorkerInfo describes this worker in the initialize result.
type WorkerInfo struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Version  string `json:"version"`
	PID      int    `json:"pid"`
}

// Capabilities are what the worker supports.
type Capabilities struct {
	Cancel   bool `json:"cancel"`
	Progress bool `json:"progress"`
	Logs     bool `json:"logs"`
}

// InitializeResult answers initialize.
type InitializeResult struct {
	ProtocolVersion string       `json:"protocolVersion"`
	Worker          WorkerInfo   `json:"worker"`
	Capabilities    Capabilities `json:"capabilities"`
	Nodes           []string     `json:"nodes"`
}

// ExecuteParams are the params of an execute request.
type ExecuteParams struct {
	RunID       string         `json:"runId"`
	NodeID      string         `json:"nodeId"`
	Attempt     int            `json:"attempt"`
	NodeType    string         `json:"nodeType"`
	Module      string         `json:"module"`
	Handler     string         `json:"handler"`
	Inputs      map[string]any `json:"inputs"`
	Parameters  map[string]any `json:"parameters"`
	ArtifactDir string         `json:"artifactDir"`
	TimeoutMs   *int64         `json:"timeoutMs"`
	OutputPorts []string       `json:"outputPorts,omitempty"`
	Variables   map[string]any `json:"variables,omitempty"`
}

// ExecuteResult answers execute.
type ExecuteResult struct {
	Outputs map[string]any `json:"outputs"`
}

// ProgressParams are the params of a progress notification.
type ProgressParams struct {
	RequestID int64   `json:"requestId"`
	Percent   float64 `json:"percent"`
	Message   string  `json:"message"`
}

// LogParams are the params of a log notification.
type LogParams struct {
	RequestID int64  `json:"requestId"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

// CancelParams are the params of a cancel notification.
type CancelParams struct {
	RequestID int64 `json:"requestId"`
}

// Request builds a request message; params may be nil.
func Request(id int64, method string, params any) (Message, error) {
	m := Message{JSONRPC: "2.0", ID: json.RawMessage(itoa(id)), Method: method}
	return m, m.setParams(params)
}

// Notification builds a notification message; params may be nil.
func Notification(method string, params any) (Message, error) {
	m := Message{JSONRPC: "2.0", Method: method}
	return m, m.setParams(params)
}

// Response builds a success response; a nil result encodes as null.
func Response(id json.RawMessage, result any) (Message, error) {
	raw, err := EncodeBody(result)
	return Message{JSONRPC: "2.0", ID: id, Result: raw}, err
}

// ErrorResponse builds an error response; a nil id encodes as null.
func ErrorResponse(id json.RawMessage, e *ErrorObject) Message {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return Message{JSONRPC: "2.0", ID: id, Error: e}
}

func (m *Message) setParams(params any) error {
	if params == nil {
		return nil
	}
	raw, err := EncodeBody(params)
	m.Params = raw
	return err
}

func itoa(n int64) string {
	raw, _ := json.Marshal(n)
	return string(raw)
}
