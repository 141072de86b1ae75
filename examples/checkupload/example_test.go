package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/guestinject/guestinject/imagecheck"
)

func Example() {
	dir, _ := os.MkdirTemp("", "uploads-")
	defer os.RemoveAll(dir)
	srv := httptest.NewServer(&uploadHandler{dir: dir, maxBytes: 4 << 20, policy: imagecheck.DefaultPolicy()})
	defer srv.Close()

	put := func(path string, body []byte) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+path, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		fmt.Print(describe(resp))
	}
	disk := make([]byte, 1<<20) // a blank raw disk
	put("/images/blank?format=raw", disk)
	put("/images/blank?format=qcow2", disk) // it is not what the client claims
	put("/images/huge?format=raw", make([]byte, 5<<20))
	put("/images/any?format=auto", disk)
	// Output:
	// 201 {"format":"raw","virtual_size":1048576}
	// 422 image rejected: format mismatch (qcow2): declared qcow2, content is raw
	// 413 upload too large
	// 400 image rejected: no declared format: the format must be declared, not probed
}

// describe is a one-line summary of a response, for the example.
func describe(resp *http.Response) string {
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}
