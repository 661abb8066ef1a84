package sdk

import (
	"context"
	"fmt"
)

// Context is a running node's view of its call. It is a context.Context: Done() closes when the
// engine cancels the call (long loops should select on it and return ctx.Err()).
type Context struct {
	context.Context
	RunID       string
	NodeID      string
	NodeType    string
	Attempt     int
	ArtifactDir string // a folder for large outputs; write files here and return a FileRef
	Variables   map[string]any
	requestID   int64
	worker      *Worker
}

// Done closes when the engine cancels the call. The first time a call of this worker asks
// (Done or Err), the worker starts reading the engine's messages on a goroutine of their own, so
// that the cancel can arrive while the handler runs; a handler that never asks runs on the
// reading goroutine itself, a few microseconds faster per call.
func (c *Context) Done() <-chan struct{} {
	c.worker.watch()
	return c.Context.Done()
}

// Err is context.Canceled once the engine has cancelled the call (see Done).
func (c *Context) Err() error {
	c.worker.watch()
	return c.Context.Err()
}

// Progress reports progress in percent (0 to 100) with an optional message.
func (c *Context) Progress(percent float64, message string) {
	c.worker.notify("progress", ProgressParams{RequestID: c.requestID, Percent: percent, Message: message})
}

// Log sends a log line to the run's event stream; level is debug, info, warning or error.
func (c *Context) Log(level, message string) {
	switch level {
	case "debug", "info", "warning", "error":
	default:
		level = "info"
	}
	c.worker.notify("log", LogParams{RequestID: c.requestID, Level: level, Message: message})
}

// Logf formats and logs at info level.
func (c *Context) Logf(format string, args ...any) {
	c.Log("info", fmt.Sprintf(format, args...))
}
