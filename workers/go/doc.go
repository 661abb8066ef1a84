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
// Design: one goroutine reads frames; each execute runs in its own goroutine with a cancellable
// context, so a cancel notification can reach it; one mutex serialises writes to stdout. A
// handler's panic becomes a -32000 error carrying the panic stack. Standard library only.
package sdk
