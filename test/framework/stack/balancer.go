package stack

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Balancer stands in for kube-proxy: it listens on the runtime Service's
// clusterIP and port and passes each TCP connection, round-robin, to one of
// the runtime replicas. Traefik (with native load balancing) sends requests
// to the clusterIP, as it would in a cluster; the apiserver refuses loopback
// EndpointSlice addresses, so Traefik cannot balance over the replicas
// itself. Traefik keeps no idle backend connections in the local stack
// (serversTransport.maxIdleConnsPerHost=-1), so every request is a new
// connection and any step of a flow may land on either replica.
//
// A backend that refuses a connection is skipped for that connection (the
// next one is tried), as a cluster stops routing to a pod that is gone; a
// connection already passed to a backend that dies fails. The reliability
// tests also put a one-backend Balancer in front of the apiserver and cut it
// (Cut, Restore) to stop the apiserver for its clients.
type Balancer struct {
	addr     string
	backends []string
	next     atomic.Uint64

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartBalancer listens on addr and passes each connection to the next of
// backends.
func StartBalancer(addr string, backends []string) (*Balancer, error) {
	b := &Balancer{addr: addr, backends: backends, conns: map[net.Conn]struct{}{}}
	if err := b.listen(); err != nil {
		return nil, err
	}
	return b, nil
}

// Addr is the address the balancer listens on.
func (b *Balancer) Addr() string { return b.addr }

func (b *Balancer) listen() error {
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("the balancer's address %s: %w", b.addr, err)
	}
	b.mu.Lock()
	b.l = l
	b.mu.Unlock()
	b.wg.Add(1)
	go b.serve(l)
	return nil
}

func (b *Balancer) serve(l net.Listener) {
	defer b.wg.Done()
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.pipe(in)
		}()
	}
}

// dial connects to the next backend that accepts a connection, trying each
// once from its turn on.
func (b *Balancer) dial() (net.Conn, error) {
	var err error
	turn := b.next.Add(1)
	for i := range uint64(len(b.backends)) {
		var out net.Conn
		if out, err = net.Dial("tcp", b.backends[(turn+i)%uint64(len(b.backends))]); err == nil {
			return out, nil
		}
	}
	return nil, err
}

// track records an open connection, or closes it at once when the balancer
// has been cut since it was accepted.
func (b *Balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.l == nil {
		_ = c.Close()
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Balancer) untrack(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	_ = c.Close()
}

func (b *Balancer) pipe(in net.Conn) {
	if !b.track(in) {
		return
	}
	defer b.untrack(in)
	out, err := b.dial()
	if err != nil {
		return
	}
	if !b.track(out) {
		return
	}
	defer b.untrack(out)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}

// Cut closes the listener and every open connection: clients see their
// connections reset and new ones refused until Restore.
func (b *Balancer) Cut() {
	b.mu.Lock()
	l := b.l
	b.l = nil
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
}

// Restore listens again on the same address after Cut.
func (b *Balancer) Restore() error { return b.listen() }

// Stop closes the listener and every connection and waits for them to end.
func (b *Balancer) Stop() {
	b.Cut()
	b.wg.Wait()
}
