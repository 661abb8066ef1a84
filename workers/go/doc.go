// Package sdk is the atomiton Go worker SDK: write nodes as Go functions and serve them to the
// engine as a warm worker process speaking the worker protocol (docs/worker-protocol.md).
//
//	func main() {
//		sdk.Register("Reverse", func(ctx *sdk.Context, inputs, params map[string]any) (map[string]any, error) {
//			text, _ := inputs["text"].(string)
//			ctx.Progress(50, "reversing")
//			return map[string]any{"output": reverse(text)}, nil
//		})
//		sdk.Serve()
//	}
//
// Design: an execute runs on the goroutine that read it, with a cancellable context (a goroutine
// per call cost 7-12 µs of a warm round trip). The first time a call asks ctx.Done() or
// ctx.Err(), reading moves to a goroutine of its own for the rest of the worker's life, so a
// cancel notification reaches the running call; one mutex serialises writes to stdout. Having
// answered, the worker polls stdin for the next request for a short window before it blocks
// (idlespin.go). A handler's panic becomes a -32000 error carrying the panic stack. Standard
// library only.
package sdk
