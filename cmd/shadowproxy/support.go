package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/configs"
)

// validate prints a one-line summary of a valid config, or every problem as file:line:column: message.
// configChecks adds to the config's validation what other packages own: compare's path grammar.
// validate, run and reloads use it alike, so a config validate accepts is one run starts with.
var configChecks = configs.Checks{ComparePath: compare.CheckPath}

func validate(path string, stdout, stderr io.Writer) error {
	cfg, err := configChecks.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	fmt.Fprintln(stdout, configs.Summary(cfg))
	return nil
}

func newLogger(c configs.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)), nil
}

// tlsConfig builds a client TLS configuration; nil when nothing is set (Go's defaults apply).
func tlsConfig(t configs.TLS) (*tls.Config, error) {
	if t == (configs.TLS{}) {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate found", t.CA)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// watcher reloads the config when its file changes, after a quiet period (editors write files in
// several steps). It watches the directory, so replacing the file (a Kubernetes ConfigMap update swaps
// a symlink) is seen too.
type watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}
	wg   sync.WaitGroup
}

func watchFile(path string, debounce time.Duration, onChange func(), log *zap.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		fw.Close()
		return nil, err
	}
	w := &watcher{w: fw, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-w.done:
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				// ConfigMaps update through ..data symlink swaps: any change in the directory counts
				// when the file itself is a symlink; otherwise only the file's own events do.
				if filepath.Clean(ev.Name) != abs && !isSymlink(abs) {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				log.Warn("config watch", zap.Error(err))
			case <-fire:
				fire = nil
				onChange()
			}
		}
	}()
	return w, nil
}

func (w *watcher) close() {
	close(w.done)
	w.w.Close()
	w.wg.Wait()
}

func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// closeNow closes a sink without waiting for a drain.
func closeNow(s interface{ Close(context.Context) error }) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Close(ctx)
}
