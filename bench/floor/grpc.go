package main

import (
	"context"
	"log"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// rawCodec passes messages through as bytes: the floor neither decodes nor encodes them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "floor-raw" }

// shadowCall is one unary call copied for the candidate.
type shadowCall struct {
	method string
	md     metadata.MD
	req    []byte
}

// serveGRPC is the gRPC floor: a grpc-go server whose every unary call is passed, bytes and
// metadata unchanged, to the primary over one connection and, with a candidate, copied to a bounded
// queue that workers send to the candidate, discarding the answers.
func serveGRPC(addr, primary, candidate string, workers, queue int) error {
	up, err := grpc.NewClient(primary, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer up.Close()
	var shadows chan shadowCall
	var wg sync.WaitGroup
	if candidate != "" {
		cand, err := grpc.NewClient(candidate, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer cand.Close()
		shadows = make(chan shadowCall, queue)
		for range workers {
			wg.Go(func() {
				var resp []byte
				for c := range shadows {
					ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), c.md), 2*time.Second)
					_ = cand.Invoke(ctx, c.method, &c.req, &resp, grpc.ForceCodec(rawCodec{}))
					cancel()
				}
			})
		}
	}
	handler := func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		var req, resp []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		md, _ := metadata.FromIncomingContext(ss.Context())
		ctx := metadata.NewOutgoingContext(ss.Context(), md)
		var header, trailer metadata.MD
		err := up.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer))
		_ = ss.SetHeader(header)
		ss.SetTrailer(trailer)
		if err != nil {
			return err
		}
		if err := ss.SendMsg(&resp); err != nil {
			return err
		}
		if shadows != nil {
			select {
			case shadows <- shadowCall{method: method, md: md.Copy(), req: append([]byte(nil), req...)}:
			default: // The queue is full: the shadow is dropped.
			}
		}
		return nil
	}
	s := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(handler))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	stopOnSignal(s.GracefulStop)
	err = s.Serve(ln)
	if shadows != nil {
		close(shadows)
		wg.Wait()
	}
	if err != nil {
		log.Print(err)
	}
	return err
}
