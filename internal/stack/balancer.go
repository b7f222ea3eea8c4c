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
type Balancer struct {
	l        net.Listener
	backends []string
	next     atomic.Uint64
	wg       sync.WaitGroup
}

// StartBalancer listens on addr and passes each connection to the next of
// backends.
func StartBalancer(addr string, backends []string) (*Balancer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the runtime Service's address %s: %w", addr, err)
	}
	b := &Balancer{l: l, backends: backends}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		in, err := b.l.Accept()
		if err != nil {
			return
		}
		target := b.backends[b.next.Add(1)%uint64(len(b.backends))]
		go pipe(in, target)
	}
}

func pipe(in net.Conn, target string) {
	defer func() { _ = in.Close() }()
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer func() { _ = out.Close() }()
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

// Stop closes the listener and waits for the accept loop to end.
func (b *Balancer) Stop() {
	_ = b.l.Close()
	b.wg.Wait()
}
