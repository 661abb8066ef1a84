package sdk

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
)

// NodeError is an error with a type name and the Go stack where it was made; the engine shows
// all three. Return one from a handler with Errorf or NewError.
type NodeError struct {
	Type    string
	Message string
	Stack   string
}

func (e *NodeError) Error() string { return e.Message }

// NewError makes a NodeError of the given type, capturing the current stack.
func NewError(typ, message string) *NodeError {
	return &NodeError{Type: typ, Message: message, Stack: string(debug.Stack())}
}

// Errorf makes a NodeError of type "NodeError" from a format, capturing the current stack.
func Errorf(format string, args ...any) *NodeError {
	return NewError("NodeError", fmt.Sprintf(format, args...))
}

// describe turns a handler's error into the protocol's {type, message, stack}.
func describe(err error) *ErrorData {
	var ne *NodeError
	if errors.As(err, &ne) {
		return &ErrorData{Type: ne.Type, Message: err.Error(), Stack: ne.Stack}
	}
	return &ErrorData{Type: typeName(err), Message: err.Error(), Stack: ""}
}

// typeName is the short Go type of an error: "PathError" for *fs.PathError, "Error" for the
// anonymous errors of errors.New and fmt.Errorf.
func typeName(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := t.Name()
	if name == "" || strings.HasPrefix(name, "wrap") || name == "errorString" {
		return "Error"
	}
	return name
}

// panicked describes a recovered panic with the stack of the panicking goroutine.
func panicked(value any) *ErrorData {
	return &ErrorData{Type: "panic", Message: fmt.Sprint(value), Stack: string(debug.Stack())}
}
