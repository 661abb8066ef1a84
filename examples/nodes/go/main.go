// Command textnodes is a Go worker serving two atomiton nodes (see node.yaml beside it). The
// golang runtime builds it on first use and keeps it warm; run `go run .` only to debug by hand.
package main

import (
	"fmt"
	"strings"

	sdk "atomiton.dev/sdk"
)

func reverse(ctx *sdk.Context, inputs, params map[string]any) (map[string]any, error) {
	text, ok := inputs["text"].(string)
	if !ok {
		return nil, sdk.NewError("TypeError", fmt.Sprintf("input 'text' must be a string, got %T", inputs["text"]))
	}
	runes := []rune(text)
	for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
		runes[i], runes[j] = runes[j], runes[i]
	}
	return map[string]any{"output": string(runes)}, nil
}

func countWords(ctx *sdk.Context, inputs, params map[string]any) (map[string]any, error) {
	text, _ := inputs["text"].(string)
	lines := strings.Split(text, "\n")
	counts := map[string]any{}
	for i, line := range lines {
		select {
		case <-ctx.Done(): // cancelled: stop early
			return nil, ctx.Err()
		default:
		}
		for _, word := range strings.Fields(strings.ToLower(line)) {
			n, _ := counts[word].(int)
			counts[word] = n + 1
		}
		ctx.Progress(float64(i+1)*100/float64(len(lines)), fmt.Sprintf("line %d of %d", i+1, len(lines)))
	}
	ctx.Logf("%d distinct words", len(counts))
	return map[string]any{"counts": counts, "distinct": len(counts)}, nil
}

func main() {
	sdk.Register("Reverse", reverse)
	sdk.Register("CountWords", countWords)
	sdk.Serve()
}
