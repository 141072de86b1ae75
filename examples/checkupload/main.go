// Command checkupload is an HTTP endpoint that accepts disk image uploads
// only when imagecheck finds them safe:
//
//	checkupload -listen 127.0.0.1:8080 -dir /var/lib/images
//	curl -T guest.qcow2 'http://127.0.0.1:8080/images/guest?format=qcow2'
//
// The upload is spooled to a private temporary file (bounded in size),
// checked against the format the client declared, and moved into place
// only if it passes; a rejected upload is deleted and the client is told
// why (422 Unprocessable Entity).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/guestinject/guestinject/imagecheck"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	dir := flag.String("dir", ".", "directory for accepted images")
	maxUpload := flag.Int64("max-upload", 8<<30, "largest upload in bytes")
	flag.Parse()
	h := &uploadHandler{dir: *dir, maxBytes: *maxUpload, policy: imagecheck.DefaultPolicy()}
	log.Fatal(http.ListenAndServe(*listen, h))
}

var errTooLarge = errors.New("upload too large")

// acceptUpload copies at most maxBytes of r into a temporary file in dir
// and checks it as an image of the declared format under p. It returns the
// temporary file's path for the caller to rename; on any error the file is
// removed.
func acceptUpload(ctx context.Context, dir string, r io.Reader, declared imagecheck.Format, p imagecheck.Policy, maxBytes int64) (_ string, _ *imagecheck.Info, err error) {
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, maxBytes+1))
	if err != nil {
		return "", nil, err
	}
	if n > maxBytes {
		return "", nil, errTooLarge
	}
	// Check reads the spooled copy, which the client can no longer change.
	info, err := imagecheck.Check(ctx, f, n, declared, p)
	if err != nil {
		return "", nil, err
	}
	return f.Name(), info, f.Sync()
}

type uploadHandler struct {
	dir      string
	maxBytes int64
	policy   imagecheck.Policy
}

var imageName = regexp.MustCompile(`^/images/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$`)

func (h *uploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := imageName.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPut || m == nil {
		http.Error(w, "PUT /images/NAME?format=F", http.StatusNotFound)
		return
	}
	declared, err := imagecheck.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tmp, info, err := acceptUpload(r.Context(), h.dir, r.Body, declared, h.policy, h.maxBytes)
	switch {
	case errors.Is(err, imagecheck.ErrRejected):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	case errors.Is(err, errTooLarge):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "could not store the upload", http.StatusInternalServerError)
		return
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, m[1]+"."+string(declared))); err != nil {
		os.Remove(tmp)
		http.Error(w, "could not store the upload", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"format": info.Format, "virtual_size": info.VirtualSize})
}
