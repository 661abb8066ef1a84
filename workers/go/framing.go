package sdk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxHeaderBytes bounds the header block of one frame, as the protocol requires.
const maxHeaderBytes = 1024

// ReadFrame reads one LSP-style frame (Content-Length header, blank line, body) and returns its
// body. It returns io.EOF when the stream ends cleanly between frames.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	length, seen := -1, 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && seen == 0 && line == "" {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading frame header: %w", err)
		}
		seen += len(line)
		if seen > maxHeaderBytes {
			return nil, fmt.Errorf("frame header block is over %d bytes", maxHeaderBytes)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed frame header %q, expected 'Name: value'", line)
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("Content-Length %q is not a byte count", strings.TrimSpace(value))
			}
			length = n
		case "content-type":
		default:
			return nil, fmt.Errorf("unexpected frame header %q (only Content-Length and Content-Type)", name)
		}
	}
	if length < 0 {
		return nil, fmt.Errorf("frame has no Content-Length header")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("reading %d-byte frame body: %w", length, err)
	}
	return body, nil
}

// EncodeBody encodes v canonically: compact, UTF-8 unescaped, no trailing newline.
func EncodeBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// EncodeFrame encodes v and prefixes the Content-Length header.
func EncodeFrame(v any) ([]byte, error) {
	body, err := EncodeBody(v)
	if err != nil {
		return nil, err
	}
	return frameOf(body), nil
}

// frameOf prefixes body with its Content-Length header, in one allocation.
func frameOf(body []byte) []byte {
	frame := make([]byte, 0, len(body)+32)
	frame = append(frame, "Content-Length: "...)
	frame = strconv.AppendInt(frame, int64(len(body)), 10)
	frame = append(frame, "\r\n\r\n"...)
	return append(frame, body...)
}

// responseFrame is the frame of Response(id, result), built without re-encoding result: id and
// result are compact JSON already (an id as the engine sent it, a result from EncodeBody), so
// the bytes are the ones EncodeFrame would produce.
func responseFrame(id json.RawMessage, result []byte) []byte {
	body := make([]byte, 0, len(id)+len(result)+32)
	body = append(body, `{"jsonrpc":"2.0","id":`...)
	body = append(body, id...)
	body = append(body, `,"result":`...)
	body = append(body, result...)
	return frameOf(append(body, '}'))
}
