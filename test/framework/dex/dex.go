// Package dex starts Dex, a real OpenID Connect provider built from its Go
// module by hack/build-dex.sh, for the runtime's sign-in tests: a static
// configuration with in-memory storage, static password users (bcrypt, with
// groups) and static clients, served over HTTP on loopback.
package dex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
)

// Binary returns the Dex binary: $DEX when set, otherwise the one
// hack/build-dex.sh builds on first use (cached in bin/dex/<version>/).
func Binary() (string, error) { return controlplane.Tool("DEX", "build-dex.sh") }

// User is a static password user of Dex's local password database.
type User struct {
	Email    string
	Password string // hashed with bcrypt when Dex is configured
	Username string
	// UserID is the subject of the ID tokens Dex issues for the user.
	UserID string
	Groups []string
}

// Client is a static OAuth client of Dex.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
	Name         string
}

// Config is what Dex is started with.
type Config struct {
	// Addr is the loopback host:port Dex listens on; empty picks a free port
	// on 127.0.0.1. The issuer is http://{Addr}/dex.
	Addr    string
	Users   []User
	Clients []Client
	// Dir holds the generated configuration and Dex's log.
	Dir string
}

// Dex is a running Dex.
type Dex struct {
	// Issuer is the provider's issuer URL (http://127.0.0.1:port/dex).
	Issuer  string
	Process *proc.Process
}

// FreeAddr returns a loopback address that is free now, so that a test can
// configure the issuer before Dex starts.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// IssuerURL is the issuer of a Dex listening on addr.
func IssuerURL(addr string) string { return "http://" + addr + "/dex" }

// configFile renders Dex's configuration (JSON, which Dex reads as YAML).
func configFile(cfg Config) ([]byte, error) {
	type password struct {
		Email         string   `json:"email"`
		Hash          string   `json:"hash"`
		Username      string   `json:"username"`
		UserID        string   `json:"userID"`
		EmailVerified bool     `json:"emailVerified"`
		Groups        []string `json:"groups,omitempty"`
	}
	type client struct {
		ID           string   `json:"id"`
		Secret       string   `json:"secret"`
		RedirectURIs []string `json:"redirectURIs"`
		Name         string   `json:"name"`
	}
	var passwords []password
	for _, u := range cfg.Users {
		// Dex refuses bcrypt costs below 10.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		passwords = append(passwords, password{Email: u.Email, Hash: string(hash), Username: u.Username,
			UserID: u.UserID, EmailVerified: true, Groups: u.Groups})
	}
	clients := []client{}
	for _, c := range cfg.Clients {
		clients = append(clients, client(c))
	}
	return json.MarshalIndent(map[string]any{
		"issuer":  IssuerURL(cfg.Addr),
		"storage": map[string]any{"type": "memory"},
		"web":     map[string]any{"http": cfg.Addr},
		"logger":  map[string]any{"level": "info", "format": "text"},
		// The runtime shows its own consent page; Dex's would be a second one.
		"oauth2":           map[string]any{"skipApprovalScreen": true},
		"enablePasswordDB": true,
		"staticPasswords":  passwords,
		"staticClients":    clients,
	}, "", "  ")
}

// Start writes the configuration into cfg.Dir, starts bin and waits until
// the provider's discovery document is served.
func Start(ctx context.Context, bin string, cfg Config) (*Dex, error) {
	if cfg.Addr == "" {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Addr = addr
	}
	if host, _, err := net.SplitHostPort(cfg.Addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("dex: %q is not a loopback host:port", cfg.Addr)
	}
	data, err := configFile(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Dir, "dex.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	p, err := proc.Start(filepath.Join(cfg.Dir, "dex.log"), nil, bin, "serve", path)
	if err != nil {
		return nil, err
	}
	d := &Dex{Issuer: IssuerURL(cfg.Addr), Process: p}
	if err := d.wait(ctx, 30*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// wait polls the discovery document until it is served.
func (d *Dex) wait(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.Issuer+"/.well-known/openid-configuration", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dex did not serve its discovery document within %s; see %s", timeout, d.Process.LogPath)
		case <-d.Process.Exited():
			return d.Process.ExitErr("dex")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends Dex.
func (d *Dex) Stop() { d.Process.Stop(5 * time.Second) }

// ErrLoginFailed is returned by Login when Dex shows its login form again.
var ErrLoginFailed = errors.New("dex: invalid username and password")

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// Login signs a user in at Dex the way a browser without JavaScript does:
// from authURL (the authorization request a client sent the browser to), it
// follows Dex's redirects, posts the login form of Dex's password database
// and follows Dex's redirects again until one leaves Dex, and returns that
// URL (the client's redirect URI with code and state, or with an error).
// hc must not follow redirects itself. A refused password is ErrLoginFailed.
func Login(ctx context.Context, hc *http.Client, authURL, login, password string) (string, error) {
	start, err := url.Parse(authURL)
	if err != nil {
		return "", err
	}
	page, at, err := follow(ctx, hc, start, http.MethodGet, nil)
	if err != nil {
		return "", err
	}
	if page == "" {
		// Dex sent the browser back at once (an error for the client).
		return at.String(), nil
	}
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("dex: no login form at %s:\n%s", at, page)
	}
	post, err := at.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", err
	}
	page, at, err = follow(ctx, hc, post, http.MethodPost, url.Values{"login": {login}, "password": {password}})
	if err != nil {
		return "", err
	}
	if page != "" {
		if strings.Contains(page, `id="login-error"`) {
			return "", ErrLoginFailed
		}
		return "", fmt.Errorf("dex: unexpected page at %s:\n%s", at, page)
	}
	return at.String(), nil
}

// follow sends the request and follows redirects while they stay on Dex's
// origin. It returns the page Dex finally shows (with its URL), or an empty
// page and the first URL outside Dex.
func follow(ctx context.Context, hc *http.Client, u *url.URL, method string, form url.Values) (string, *url.URL, error) {
	origin := u.Scheme + "://" + u.Host
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
		if err != nil {
			return "", nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if err != nil {
			return "", nil, err
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
				return "", u, fmt.Errorf("dex: %s %s: %d %s", method, u, resp.StatusCode, b)
			}
			return string(b), u, nil
		}
		next, err := u.Parse(loc)
		if err != nil {
			return "", nil, err
		}
		if next.Scheme+"://"+next.Host != origin {
			return "", next, nil
		}
		u, method, form = next, http.MethodGet, nil
	}
	return "", nil, fmt.Errorf("dex: too many redirects from %s", u)
}
