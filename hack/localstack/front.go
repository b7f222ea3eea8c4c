package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

// front stands in for the Gateway until the local stack runs a real one: it
// terminates TLS for the gateway host and every handle host with a
// self-signed certificate and sends requests round-robin to the runtime
// replicas, keeping the Host header, so any step of a flow may land on
// either replica.
type front struct {
	server *http.Server
	// CertFile is the PEM certificate clients trust (curl --cacert).
	CertFile string
}

func startFront(addr, certFile string, hosts []string, backends []string) (*front, error) {
	cert, certPEM, err := selfSigned(hosts)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	var targets []*url.URL
	for _, b := range backends {
		targets = append(targets, &url.URL{Scheme: "http", Host: b})
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(targets[next.Add(1)%uint64(len(targets))])
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the local gateway cannot listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	return &front{server: srv, CertFile: certFile}, nil
}

func (f *front) Stop() { _ = f.server.Close() }

// selfSigned makes a certificate for the local hosts, valid for a day.
func selfSigned(hosts []string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "mcp-handle-operator local stack"},
		DNSNames: hosts, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
