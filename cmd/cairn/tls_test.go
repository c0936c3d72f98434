package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverCA writes a self-signed CA and a server certificate it issued for
// 127.0.0.1 and localhost into dir; it returns the CA file, the
// certificate and the key.
func serverCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cairn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", kb)
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveBinary starts the cairn binary's serve with args on a free port of
// ip and waits until it says it is serving; it returns host:port and the
// log.
func serveBinary(t *testing.T, bin, ip string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var log syncBuffer
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", t.TempDir(), "--gc-interval", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "CAIRN_ADMIN_PASSWORD=admin-password-for-the-test")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(serverStartTimeout); !strings.Contains(log.String(), "msg=serving"); {
		if time.Now().After(deadline) {
			t.Fatalf("cairn serve %v did not start:\n%s", args, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, &log
}

// TestTLS_Loopback: a registry serving HTTPS on loopback (serve --tls-cert)
// is reached with --ca-file, with an https:// prefix and $SSL_CERT_FILE,
// and with --insecure (which warns); without them the error says what to
// do. The old client always spoke plain HTTP to loopback (400 from the
// TLS server) and had no --ca-file or --insecure.
func TestTLS_Loopback(t *testing.T) {
	bin := buildCairn(t)
	dir := t.TempDir()
	caFile, cert, key := serverCA(t, dir)
	addr, _ := serveBinary(t, bin, "127.0.0.1", "--tls-cert", cert, "--tls-key", key)
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(b)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := hc.Get("https://" + addr + "/v2/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET https://%s/v2/: %v %v", addr, resp, err)
	}

	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{"model_type":"tls"}`)})
	cache := t.TempDir()
	cairn := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append(os.Environ(), "CAIRN_CACHE="+cache, "SSL_CERT_FILE="), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	ref := addr + "/models/m:v1"
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"push with --ca-file", nil, []string{"push", src, ref, "--ca-file", caFile}, 0, []string{"sha256:"}},
		{"pull with --ca-file", nil, []string{"pull", ref, filepath.Join(dir, "a"), "--ca-file", caFile}, 0, nil},
		{"pull https:// with SSL_CERT_FILE", []string{"SSL_CERT_FILE=" + caFile}, []string{"pull", "https://" + ref, filepath.Join(dir, "b")}, 0, nil},
		{"pull --insecure warns", nil, []string{"pull", ref, filepath.Join(dir, "c"), "--insecure"}, 0, []string{"warning: --insecure"}},
		{"ls with --ca-file", nil, []string{"ls", addr + "/models/m", "--ca-file", caFile}, 0, []string{"v1"}},
		{"plain HTTP to the TLS server", nil, []string{"pull", ref, filepath.Join(dir, "d")}, 2, []string{"speaks HTTPS", "--ca-file", "https://"}},
		{"unknown CA", nil, []string{"pull", "https://" + ref, filepath.Join(dir, "e")}, 2, []string{"certificate", "--ca-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := cairn(tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestServe_ClearTextAuthWarns: serve warns at start when authentication
// is on over plain HTTP on a non-loopback address (the Dockerfile's old
// default), and not on loopback, with TLS, or behind an https:// realm.
func TestServe_ClearTextAuthWarns(t *testing.T) {
	for _, tc := range []struct {
		o    serveOptions
		auth bool
		want bool
	}{
		{serveOptions{addr: "0.0.0.0:5000"}, true, true},
		{serveOptions{addr: "[::]:5000"}, true, true},
		{serveOptions{addr: "10.1.2.3:5000"}, true, true},
		{serveOptions{addr: "0.0.0.0:5000"}, false, false},
		{serveOptions{addr: "127.0.0.1:5000"}, true, false},
		{serveOptions{addr: "0.0.0.0:5000", tlsCert: "c.pem", tlsKey: "k.pem"}, true, false},
		{serveOptions{addr: "0.0.0.0:5000", realm: "https://reg.example.com/token"}, true, false},
	} {
		if got := cleartextAuth(tc.o, tc.auth); got != tc.want {
			t.Errorf("cleartextAuth(%+v, auth %v) = %v, want %v", tc.o, tc.auth, got, tc.want)
		}
	}
	// The warning as the operator sees it, at start.
	bin := buildCairn(t)
	_, log := serveBinary(t, bin, "0.0.0.0")
	if !strings.Contains(log.String(), "level=WARN msg=\"PASSWORDS IN CLEAR TEXT") {
		t.Errorf("serve on 0.0.0.0 over HTTP: no warning:\n%s", log.String())
	}
	_, log = serveBinary(t, bin, "127.0.0.1", "--auth")
	if strings.Contains(log.String(), "CLEAR TEXT") {
		t.Errorf("serve on loopback warned:\n%s", log.String())
	}
}
