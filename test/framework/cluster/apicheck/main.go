// Command apicheck is a test image of test/framework/cluster: its /healthz
// answers 200 only once, from inside its pod, (1) the apiserver accepted the
// pod's service-account token through the kubernetes Service (in-cluster
// address, the kube-root-ca.crt bundle; a SelfSubjectReview names the
// account) and (2) every --get URL (for example another Service's ClusterIP)
// answered 200. The body says who the apiserver thinks it is.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"

type urls []string

func (u *urls) String() string     { return strings.Join(*u, ",") }
func (u *urls) Set(s string) error { *u = append(*u, s); return nil }

func main() {
	listen := flag.String("listen", ":8080", "address of /healthz")
	var gets urls
	flag.Var(&gets, "get", "a URL that must answer 200 (repeatable)")
	flag.Parse()
	var mu sync.Mutex
	status, lastErr := "", errors.New("not checked yet")
	go func() {
		for {
			who, err := check(gets)
			if fmt.Sprint(err) != fmt.Sprint(lastErr) {
				fmt.Fprintf(os.Stderr, "check: %s %v\n", who, err)
			}
			mu.Lock()
			status, lastErr = who, err
			mu.Unlock()
			time.Sleep(time.Second)
		}
	}()
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if lastErr != nil {
			http.Error(w, lastErr.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, status)
	})
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	os.Exit(1)
}

func check(gets []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		return "", err
	}
	ca, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return "", errors.New("no certificate in ca.crt")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	body := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+host+"/apis/authentication.k8s.io/v1/selfsubjectreviews", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("SelfSubjectReview at %s: %s: %s", host, resp.Status, data)
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string `json:"username"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal(data, &review); err != nil {
		return "", err
	}
	for _, u := range gets {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", u, resp.Status)
		}
	}
	return review.Status.UserInfo.Username, nil
}
