package sdk

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Ref is a large value passed by reference: a file in the run's artifact directory.
type Ref struct {
	Kind      string `json:"kind"` // "file", "arrow" or "bytes"
	Path      string `json:"path"`
	MediaType string `json:"mediaType"`
}

// RefValue is the wire form of a reference: {"$ref": {...}}. Return it as an output value.
func RefValue(kind, path, mediaType string) map[string]any {
	return map[string]any{"$ref": Ref{Kind: kind, Path: path, MediaType: mediaType}}
}

// ParseRef reports whether an input value is a reference, and which.
func ParseRef(value any) (Ref, bool) {
	outer, ok := value.(map[string]any)
	if !ok || len(outer) != 1 {
		return Ref{}, false
	}
	inner, ok := outer["$ref"].(map[string]any)
	if !ok {
		return Ref{}, false
	}
	kind, _ := inner["kind"].(string)
	path, _ := inner["path"].(string)
	media, _ := inner["mediaType"].(string)
	if kind == "" || path == "" {
		return Ref{}, false
	}
	return Ref{Kind: kind, Path: path, MediaType: media}, true
}

// WriteBytesRef writes data to a new file in the call's artifact directory and returns the
// reference value to put in the outputs.
func (c *Context) WriteBytesRef(data []byte, stem, mediaType string) (map[string]any, error) {
	if c.ArtifactDir == "" {
		return nil, fmt.Errorf("the call has no artifact directory")
	}
	if err := os.MkdirAll(c.ArtifactDir, 0o755); err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	path := filepath.Join(c.ArtifactDir, stem+"-"+hex.EncodeToString(suffix)+".bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	return RefValue("bytes", path, mediaType), nil
}

// ReadBytes returns the bytes an input value carries: a {"$bytes": base64} value, a "bytes" or
// "file" reference (read from disk), or a plain string.
func ReadBytes(value any) ([]byte, error) {
	if ref, ok := ParseRef(value); ok {
		return os.ReadFile(ref.Path)
	}
	if m, ok := value.(map[string]any); ok && len(m) == 1 {
		if encoded, ok := m["$bytes"].(string); ok {
			return base64.StdEncoding.DecodeString(encoded)
		}
	}
	if s, ok := value.(string); ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("expected bytes (a $bytes value, a reference or a string), got %T", value)
}
