// Command poolinject injects into many images the way an orchestrator
// does: a pool of pre-booted appliance VMs, a bounded number of
// injections at a time, a progress line on stderr, and a summary of the
// latencies at the end. Each image gets a Nova-style Spec: an SSH key for
// root, the root password and a hostname.
//
//	poolinject [--pool P] [--concurrency C] --key KEYFILE --password PWFILE IMAGE...
//	poolinject --make-samples N --dir DIR [...]   # builds N small ext4 images first
//
// Each VM of the pool serves one image and is destroyed after it; the
// pool boots a replacement in the background, and an injection that finds
// no VM ready boots one itself (a cold fallback) instead of waiting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/vfs"
)

// config is what one run does.
type config struct {
	images      []string
	format      imagecheck.Format
	poolSize    int
	concurrency int
	spec        func(image string) inject.Spec
	progress    io.Writer // the progress line; nil for none
	opts        []appliance.Option
}

// result is one image's injection.
type result struct {
	image  string
	took   time.Duration
	pooled bool // on a pooled VM, not a cold fallback boot
	err    error
}

// run injects into every image of c, at most c.concurrency at a time,
// through a pool of c.poolSize VMs, and returns the results in the order
// of c.images, with the time they took from the first to the last (the
// pool's first boots not included).
func run(ctx context.Context, c config) ([]result, time.Duration, error) {
	if c.concurrency < 1 {
		return nil, 0, fmt.Errorf("concurrency %d", c.concurrency)
	}
	pool, err := appliance.NewPool(ctx, c.poolSize, c.opts...)
	if err != nil {
		return nil, 0, err
	}
	defer pool.Close()
	// An orchestrator's pool is warm before requests arrive.
	if err := pool.Wait(ctx); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	results := make([]result, len(c.images))
	var (
		mu             sync.Mutex
		done, inFlight int
		wg             sync.WaitGroup
	)
	report := func() {
		if c.progress != nil {
			fmt.Fprintf(c.progress, "\rdone %d/%d, in flight %d, pool ready %d ", done, len(c.images), inFlight, pool.Ready())
		}
	}
	slots := make(chan struct{}, c.concurrency)
	for i, img := range c.images {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, 0, ctx.Err()
		}
		mu.Lock()
		inFlight++
		report()
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = injectOne(ctx, pool, img, c.format, c.spec(img))
			mu.Lock()
			inFlight--
			done++
			report()
			mu.Unlock()
			<-slots
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if c.progress != nil {
		fmt.Fprintln(c.progress)
	}
	return results, wall, nil
}

// injectOne opens img through the pool, applies spec and commits; on a
// failure every change is discarded.
func injectOne(ctx context.Context, pool *appliance.Pool, img string, format imagecheck.Format, spec inject.Spec) result {
	start := time.Now()
	r := result{image: img}
	s, err := pool.Open(ctx, []vfs.Disk{{Path: img, Format: format}})
	if err != nil {
		r.err, r.took = err, time.Since(start)
		return r
	}
	r.pooled = s.Pooled()
	if _, err := inject.Apply(ctx, s, spec); err != nil {
		r.err = errors.Join(err, s.Close())
	} else if err := s.Commit(ctx); err != nil {
		r.err = errors.Join(err, s.Close())
	}
	r.took = time.Since(start)
	return r
}

// summarize writes the latencies of the successful injections (min,
// median, p90, max), how many ran on pooled VMs and how many booted cold,
// and every failure. It returns the number of failures.
func summarize(w io.Writer, results []result, wall time.Duration) int {
	var took []time.Duration
	pooled, cold, failed := 0, 0, 0
	for _, r := range results {
		if r.err != nil {
			failed++
			fmt.Fprintf(w, "failed: %s: %v\n", r.image, r.err)
			continue
		}
		took = append(took, r.took)
		if r.pooled {
			pooled++
		} else {
			cold++
		}
	}
	fmt.Fprintf(w, "injected %d of %d images in %s (%.2f images/s): %d pooled, %d cold fallback, %d failed\n",
		len(took), len(results), wall.Round(time.Millisecond), float64(len(took))/wall.Seconds(), pooled, cold, failed)
	if len(took) > 0 {
		slices.Sort(took)
		q := func(p float64) time.Duration { return took[int(p*float64(len(took)-1)+0.5)].Round(time.Millisecond) }
		fmt.Fprintf(w, "latency: min %s, median %s, p90 %s, max %s\n", q(0), q(0.5), q(0.9), q(1))
	}
	return failed
}

// sampleTree is the content of the sample images: enough of a Debian
// guest for the appliance's inspection and the Spec's users.
var sampleTree = map[string]string{
	"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
	"etc/group":      "root:x:0:\nshadow:x:42:\n",
	"etc/shadow":     "root:*:19000:0:99999:7:::\n",
	"etc/os-release": "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
	"etc/hostname":   "localhost\n",
	"etc/hosts":      "127.0.0.1\tlocalhost\n",
	"etc/fstab":      "LABEL=root / ext4 errors=remount-ro 0 1\n",
}

// makeSamples builds n 64 MiB raw ext4 images in dir with mkfs.ext4 -d
// and returns their paths.
func makeSamples(ctx context.Context, dir string, n int) ([]string, error) {
	tree := filepath.Join(dir, "sample-tree")
	for name, content := range sampleTree {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(tree, "etc/shadow"), 0o640); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(tree, "root"), 0o700); err != nil {
		return nil, err
	}
	var images []string
	for i := range n {
		img := filepath.Join(dir, fmt.Sprintf("sample-%03d.img", i))
		out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, img, "64M").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("mkfs.ext4 %s: %w: %s", img, err, out)
		}
		images = append(images, img)
	}
	return images, nil
}

// hostnameFor names the guest after its image file.
func hostnameFor(image string) string {
	name := strings.TrimSuffix(filepath.Base(image), filepath.Ext(image))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(name))
}

func main() { os.Exit(poolinject(os.Args[1:], os.Stdout, os.Stderr)) }

// poolinject runs the command with args, the summary to stdout and the
// progress and errors to stderr, and returns its exit status.
func poolinject(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("poolinject", flag.ContinueOnError)
	flags.SetOutput(stderr)
	poolSize := flags.Int("pool", 2, "VMs kept booted")
	concurrency := flags.Int("concurrency", 2, "injections at a time")
	format := flags.String("format", "raw", "format of every image")
	keyFile := flags.String("key", "", "file with root's SSH public key")
	passwordFile := flags.String("password", "", "file with root's password")
	samples := flags.Int("make-samples", 0, "build this many sample images in --dir first")
	dir := flags.String("dir", "", "directory for --make-samples")
	timeout := flags.Duration("timeout", 10*time.Minute, "bound on the whole run")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "poolinject:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	images := flags.Args()
	if *samples > 0 {
		if *dir == "" {
			return fail(errors.New("--make-samples needs --dir"))
		}
		made, err := makeSamples(ctx, *dir, *samples)
		if err != nil {
			return fail(err)
		}
		images = append(images, made...)
	}
	if len(images) == 0 || *keyFile == "" || *passwordFile == "" {
		fmt.Fprintln(stderr, "usage: poolinject [--pool P] [--concurrency C] [--make-samples N --dir DIR] --key KEYFILE --password PWFILE [IMAGE...]")
		return 2
	}
	key, err := readTrimmed(*keyFile)
	if err != nil {
		return fail(err)
	}
	password, err := readTrimmed(*passwordFile)
	if err != nil {
		return fail(err)
	}
	spec := func(image string) inject.Spec {
		return inject.Spec{
			Hostname:  hostnameFor(image),
			SSHKeys:   []inject.SSHKeys{{User: "root", Keys: []string{key}}},
			Passwords: []inject.Password{{User: "root", Plaintext: password}},
		}
	}
	declared, err := imagecheck.ParseFormat(*format)
	if err != nil {
		return fail(err)
	}
	results, wall, err := run(ctx, config{images: images, format: declared, poolSize: *poolSize,
		concurrency: *concurrency, spec: spec, progress: stderr})
	if err != nil {
		return fail(err)
	}
	if summarize(stdout, results, wall) > 0 {
		return 1
	}
	return 0
}

// readTrimmed reads a one-line file.
func readTrimmed(name string) (string, error) {
	data, err := os.ReadFile(name)
	return strings.TrimSpace(string(data)), err
}
