package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/cmd/shadowproxy/console"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
	"github.com/shadowproxy/shadowproxy/tee"
)

// serve runs the proxy until SIGTERM or SIGINT.
func serve(path string, stderr io.Writer) error {
	cfg, err := configChecks.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	// Signals are caught before anything starts: SIGHUP's default action would end the process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	a, err := start(path, cfg, log, nil)
	if err != nil {
		log.Error("start", zap.Error(err))
		return err
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				a.reload("SIGHUP")
				continue
			}
			log.Info("shutting down", zap.String("signal", sig.String()), zap.Duration("timeout", cfg.ShutdownTimeout.D()))
			return a.shutdown()
		case err := <-a.failed:
			log.Error("listener failed", zap.Error(err))
			_ = a.shutdown()
			return err
		}
	}
}

// app is a running shadowproxy: the proxy server, the admin server and the current pipeline.
type app struct {
	path     string
	log      *zap.Logger
	reg      *prometheus.Registry
	metrics  metrics
	stats    *tee.Stats // behind /status; like the metrics, they outlive reloads
	server   *proxy.Server
	grpc     *proxy.GRPCServer // nil without grpc_listen
	grpcLn   net.Listener
	admin    *http.Server
	listener net.Listener
	adminLn  net.Listener
	failed   chan error     // the first error of a Serve below; room for both
	serving  sync.WaitGroup // the proxy's, the gRPC listener's and the admin listener's Serve
	ready    atomic.Bool

	reloadMu sync.Mutex // one reload at a time
	cur      atomic.Pointer[pipeline]
	retired  sync.WaitGroup // pipelines replaced by a reload, still draining
	sinks    *sink.Swap     // what every pipeline writes to; a reload replaces what is behind it
	sinksCfg configs.Sinks  // the config of the sinks behind sinks, guarded by reloadMu
	watch    *watcher
	recent   *tee.Recent      // the latest disagreements, shared by every pipeline
	console  *console.Console // GET / on the admin listener
	truth    *tee.Truth       // the online join of labels; outlives reloads
	labels   *labelsConsumer  // nil without labels.kafka
}

// metrics are created once per process; pipelines rebuilt by reloads share them.
type metrics struct {
	proxy   *proxy.Metrics
	tee     *tee.Metrics
	sink    *sink.Metrics
	reloads *prometheus.CounterVec
}

// start builds everything from cfg and starts serving. ready, when not nil, is called with the bound
// addresses once both listeners are open (the demo uses it).
func start(path string, cfg *configs.Config, log *zap.Logger, ready func(proxyAddr, adminAddr string)) (*app, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pm := proxy.NewMetrics(reg)
	a := &app{
		path: path,
		log:  log,
		reg:  reg,
		metrics: metrics{
			proxy: pm,
			tee:   tee.NewMetrics(reg, pm.Upstream),
			sink:  sink.NewMetrics(reg),
			reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "shadowproxy_config_reloads_total",
				Help: "Config reloads by result: ok, error.",
			}, []string{"result"}),
		},
		stats:  tee.NewStats(),
		failed: make(chan error, 3),
		recent: tee.NewRecent(tee.RecentOptions{}),
		truth:  tee.NewTruth(reg),
	}
	reg.MustRegister(a.metrics.reloads)
	for _, r := range []string{"ok", "error"} {
		a.metrics.reloads.WithLabelValues(r) // both series exist from the start, at 0
	}
	s, err := buildSinks(cfg.Sinks, a.metrics.sink, log)
	if err != nil {
		return nil, err
	}
	sinks := sink.NewSwap(s)
	a.sinks, a.sinksCfg = sinks, cfg.Sinks
	p, routes, err := a.build(cfg)
	if err != nil {
		_ = closeNow(sinks)
		return nil, err
	}
	a.cur.Store(p)
	fail := func(err error) (*app, error) {
		_ = p.close(context.Background())
		_ = closeNow(sinks)
		return nil, err
	}
	routes, grpcRoutes := splitRoutes(routes)
	a.server, err = proxy.New(proxyOptions(cfg, routes, log, pm))
	if err != nil {
		return fail(err)
	}
	if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	if a.adminLn, err = net.Listen("tcp", cfg.Admin); err != nil {
		a.listener.Close()
		return fail(fmt.Errorf("admin listen: %w", err))
	}
	if err := a.startGRPC(cfg, grpcRoutes); err != nil {
		a.listener.Close()
		a.adminLn.Close()
		return fail(err)
	}
	a.console = console.New(console.Options{
		Status:              func() []tee.RouteStatus { return a.cur.Load().statuses() },
		Recent:              a.recent,
		RemoteDisagreements: cfg.Console.RemoteDisagreements,
	})
	a.admin = &http.Server{Handler: a.adminHandler(cfg.Pprof), ReadHeaderTimeout: 10 * time.Second}
	a.serving.Go(func() {
		if err := a.server.Serve(a.listener); err != nil {
			a.failed <- fmt.Errorf("proxy: %w", err)
		}
	})
	a.serving.Go(func() {
		if err := a.admin.Serve(a.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.failed <- fmt.Errorf("admin: %w", err)
		}
	})
	if path != "" && cfg.Reload.Watch != nil && *cfg.Reload.Watch {
		w, err := watchFile(path, cfg.Reload.Debounce.D(), func() { a.reload("file change") }, log)
		if err != nil {
			log.Warn("config file watch is off", zap.Error(err))
		} else {
			a.watch = w
		}
	}
	if k := cfg.Labels.Kafka; k != nil {
		a.labels = startLabelsConsumer(k, a.truth, log)
	}
	a.ready.Store(true)
	log.Info("started",
		zap.String("version", versionString()),
		zap.String("listen", a.listener.Addr().String()),
		zap.String("admin", a.adminLn.Addr().String()),
		zap.String("grpc_listen", grpcAddr(a.grpcLn)),
		zap.Int("routes", len(cfg.Routes)),
		zap.String("config", configs.Summary(cfg)))
	if ready != nil {
		ready(a.listener.Addr().String(), a.adminLn.Addr().String())
	}
	return a, nil
}

// reload reads the config file again and swaps the pipeline. A config that fails to load or build is
// rejected, logged with its file:line:column and counted; the old one keeps serving.
func (a *app) reload(why string) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cfg, err := configChecks.Load(a.path)
	if err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		a.log.Error("config reload rejected; the old config keeps serving", zap.String("trigger", why), zap.Error(err))
		return
	}
	old := a.cur.Load()
	if cfg.Listen != old.cfg.Listen || cfg.Admin != old.cfg.Admin || cfg.GRPCListen != old.cfg.GRPCListen {
		a.log.Warn("listen, grpc_listen and admin addresses change only on restart", zap.String("listen", old.cfg.Listen),
			zap.String("grpc_listen", old.cfg.GRPCListen), zap.String("admin", old.cfg.Admin))
	}
	p, routes, err := a.build(cfg)
	if err == nil {
		routes, grpcRoutes := splitRoutes(routes)
		if len(grpcRoutes) > 0 && a.grpc == nil {
			err = errors.New("the config has gRPC routes but the process started without grpc_listen: restart to serve them")
		}
		if err == nil {
			err = a.server.SetRoutes(routes)
		}
		if err == nil && a.grpc != nil {
			err = a.grpc.SetRoutes(grpcRoutes)
		}
		if err != nil {
			_ = p.close(context.Background())
		}
	}
	if err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		a.log.Error("config reload rejected; the old config keeps serving", zap.String("trigger", why), zap.Error(err))
		return
	}
	a.cur.Store(p)
	// The old pipeline finishes its in-flight shadows, then closes.
	a.retired.Add(1)
	go func() {
		defer a.retired.Done()
		ctx, cancel := context.WithTimeout(context.Background(), old.cfg.ShutdownTimeout.D())
		defer cancel()
		_ = old.close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
	defer cancel()
	if err := a.reconfigureSinks(ctx, cfg.Sinks); err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		a.log.Error("config reload applied but the new sinks failed to open; the previous sinks are back", zap.String("trigger", why), zap.Error(err))
		return
	}
	a.metrics.reloads.WithLabelValues("ok").Inc()
	a.log.Info("config reloaded", zap.String("trigger", why), zap.String("config", configs.Summary(cfg)))
}

// shutdown drains: the proxy stops accepting and finishes in-flight requests (answering with
// Connection: close), then the tee drains its queues and the sinks flush, all within shutdown_timeout.
func (a *app) shutdown() error {
	a.ready.Store(false)
	if a.watch != nil {
		a.watch.close()
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	p := a.cur.Load()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	grpcDone := make(chan error, 1)
	if a.grpc != nil {
		go func() { grpcDone <- a.grpc.Shutdown(ctx) }() // GOAWAY, then the calls in flight end
	} else {
		grpcDone <- nil
	}
	if err := a.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain proxy: %w", err))
	}
	if err := <-grpcDone; err != nil {
		errs = append(errs, err)
	}
	a.retired.Wait()
	if err := a.labels.close(); err != nil {
		errs = append(errs, fmt.Errorf("close labels reader: %w", err))
	}
	if err := p.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.sinks.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close sinks: %w", err))
	}
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	_ = a.admin.Shutdown(actx)
	a.serving.Wait() // the Serve calls return once their listeners are closed
	a.console.Close()
	if err := errors.Join(errs...); err != nil {
		// What was cut short is counted (abandoned shadows, dropped records); the exit is still clean.
		a.log.Warn("shutdown deadline reached", zap.Error(err))
	}
	a.log.Info("stopped")
	return nil
}
