package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/tee"
)

// splitRoutes separates the gRPC routes (served on grpc_listen) from the HTTP ones (on listen).
func splitRoutes(all []proxy.Route) (httpRoutes, grpcRoutes []proxy.Route) {
	for _, r := range all {
		if proxy.IsGRPC(r.Primary.URL) {
			grpcRoutes = append(grpcRoutes, r)
		} else {
			httpRoutes = append(httpRoutes, r)
		}
	}
	return httpRoutes, grpcRoutes
}

// startGRPC opens the gRPC listener when the config has one.
func (a *app) startGRPC(cfg *configs.Config, routes []proxy.Route) error {
	if cfg.GRPCListen == "" {
		return nil
	}
	o := proxy.GRPCOptions{MaxRequestBody: int(cfg.MaxRequestBody), MaxHeaderBytes: int(cfg.MaxHeaderBytes), Routes: routes, Metrics: a.metrics.proxy, Logger: a.log}
	if t := cfg.GRPCTLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return fmt.Errorf("grpc_tls: %w", err)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s, err := proxy.NewGRPC(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	a.grpc, a.grpcLn = s, ln
	a.serving.Go(func() {
		if err := s.Serve(ln); err != nil {
			a.failed <- fmt.Errorf("grpc: %w", err)
		}
	})
	return nil
}

// rewriteOptions maps a candidate's rewrite onto the tee's.
func rewriteOptions(rw *configs.Rewrite) *tee.Rewrite {
	if rw == nil {
		return nil
	}
	o := &tee.Rewrite{SetHeaders: rw.Headers.Set, RemoveHeaders: rw.Headers.Remove}
	if p := rw.PathPrefix; p != nil {
		o.PathFrom, o.PathTo = p.From, p.To
	}
	if len(rw.Body.Set) > 0 {
		o.BodySet = make(map[string][]byte, len(rw.Body.Set))
		for k, v := range rw.Body.Set {
			o.BodySet[k] = v
		}
	}
	return o
}

func grpcAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
