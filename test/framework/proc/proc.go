// Package proc runs the child processes of the local stack and the load
// tests: output into a log file, a chosen environment, and a graceful stop.
package proc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	cmd *exec.Cmd
	// LogPath holds the process's standard output and error.
	LogPath string
	exited  chan struct{}
	err     error
}

// Start runs bin with args, the current environment plus env, and its
// output in the file logPath.
func Start(logPath string, env []string, bin string, args ...string) (*Process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("failed to create the log of %s: %w", filepath.Base(bin), err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("failed to start %s: %w", filepath.Base(bin), err)
	}
	p := &Process{cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr describes the end of a process that should still run.
func (p *Process) ExitErr(name string) error {
	if p.err == nil {
		return fmt.Errorf("the %s exited; see %s", name, p.LogPath)
	}
	return fmt.Errorf("the %s exited; see %s: %w", name, p.LogPath, p.err)
}

// Stop asks the process to terminate, as Kubernetes would, and kills it
// when it has not within grace.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Kill ends the process at once with SIGKILL, as a crash or an OOM kill
// would, and waits for it to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Poll calls check every 100 ms until it is done, ctx ends, the process
// exits or timeout passes; the last error check returned goes into the
// timeout's error.
func (p *Process) Poll(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	deadline := time.After(timeout)
	var last error
	for {
		done, err := check()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return p.ExitErr(filepath.Base(p.LogPath))
		case <-deadline:
			if last != nil {
				return fmt.Errorf("not after %s (last error: %w); see %s", timeout, last, p.LogPath)
			}
			return fmt.Errorf("not after %s; see %s", timeout, p.LogPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitOK waits until url answers 200, failing when the process exits first
// or timeout passes.
func (p *Process) WaitOK(ctx context.Context, url string, timeout time.Duration) error {
	return p.Poll(ctx, timeout, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return true, nil
	})
}
