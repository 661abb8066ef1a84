// Command textops is a WebAssembly node module (the atomiton "reactor" ABI, docs/runtimes-wasm.md)
// written in plain Go and built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o textops.wasm .
//
// It serves two handlers: "reverse" (pure) and "readFile", which can only read a file inside a
// directory the node was granted (the allowDir parameter): the sandbox has no other file system.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"unsafe"
)

type request struct {
	Handler    string         `json:"handler"`
	Inputs     map[string]any `json:"inputs"`
	Parameters map[string]any `json:"parameters"`
}

type failure struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type response struct {
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   *failure       `json:"error,omitempty"`
}

var handlers = map[string]func(inputs map[string]any) (map[string]any, error){
	"reverse":  reverse,
	"readFile": readFile,
}

func reverse(inputs map[string]any) (map[string]any, error) {
	text, ok := inputs["text"].(string)
	if !ok {
		return nil, fmt.Errorf("input 'text' must be a string, got %T", inputs["text"])
	}
	runes := []rune(text)
	for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
		runes[i], runes[j] = runes[j], runes[i]
	}
	return map[string]any{"output": string(runes)}, nil
}

func readFile(inputs map[string]any) (map[string]any, error) {
	path, _ := inputs["path"].(string)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (the sandbox reads only inside a granted allowDir)", err)
	}
	logInfo(fmt.Sprintf("read %d bytes from %s", len(data), path))
	return map[string]any{"output": string(data)}, nil
}

// The host functions the runtime provides (module "atomiton").
//
//go:wasmimport atomiton log
func hostLog(level int32, ptr unsafe.Pointer, length int32)

func logInfo(message string) {
	data := []byte(message)
	hostLog(1, unsafe.Pointer(unsafe.SliceData(data)), int32(len(data)))
}

// input is the buffer the host writes requests into; output keeps the last response alive.
var input, output []byte

//go:wasmexport atomiton_alloc
func atomitonAlloc(size int32) unsafe.Pointer {
	if int(size) > len(input) {
		input = make([]byte, size)
	}
	return unsafe.Pointer(unsafe.SliceData(input))
}

//go:wasmexport atomiton_execute
func atomitonExecute(ptr unsafe.Pointer, length int32) int64 {
	var req request
	var resp response
	if err := json.Unmarshal(unsafe.Slice((*byte)(ptr), length), &req); err != nil {
		resp.Error = &failure{"BadRequest", err.Error()}
	} else if handler, ok := handlers[req.Handler]; !ok {
		resp.Error = &failure{"UnknownHandler", fmt.Sprintf("no handler %q in textops", req.Handler)}
	} else if outputs, err := handler(req.Inputs); err != nil {
		resp.Error = &failure{"TextOpsError", err.Error()}
	} else {
		resp.Outputs = outputs
	}
	output, _ = json.Marshal(resp)
	address := int64(uintptr(unsafe.Pointer(unsafe.SliceData(output))))
	return address<<32 | int64(len(output))
}

func main() {}
