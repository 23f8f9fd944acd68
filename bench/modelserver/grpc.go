package main

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shadowproxy/shadowproxy/proxy"
)

// serveGRPC answers every call with a ModelInferResponse of about size bytes: a batch of class
// scores (FP32 [n,3]) and labels (INT64 [n]); disagreeing answers have another label first.
func serveGRPC(addr string, delay time.Duration, size int, disagree float64) error {
	n := max(1, size/40)
	agree, other := inferResponse(n, 1), inferResponse(n, 2)
	s := grpc.NewServer(grpc.ForceServerCodecV2(proxy.RawCodec{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		resp := agree
		if disagree > 0 {
			h := fnv.New32a()
			h.Write(req)
			if float64(h.Sum32()%10000) < disagree*10000 {
				resp = other
			}
		}
		return ss.SendMsg(&resp)
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		s.GracefulStop()
	}()
	return s.Serve(ln)
}

// inferResponse encodes a ModelInferResponse (KServe v2 field numbers) of n predictions whose first
// label is first.
func inferResponse(n int, first int64) []byte {
	str := func(b []byte, num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	msg := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	tensor := func(name, datatype string, shape []int64, contents []byte) []byte {
		var t, sh []byte
		t = str(str(t, 1, name), 2, datatype)
		for _, d := range shape {
			sh = protowire.AppendVarint(sh, uint64(d))
		}
		return msg(msg(t, 3, sh), 5, contents)
	}
	var scores, labels []byte
	for i := range n {
		for _, f := range []float32{0.0123, 0.9712, 0.0165} {
			scores = binary.LittleEndian.AppendUint32(scores, math.Float32bits(f))
		}
		l := int64(1)
		if i == 0 {
			l = first
		}
		labels = protowire.AppendVarint(labels, uint64(l))
	}
	var m []byte
	m = str(str(str(m, 1, "bench"), 2, "1"), 3, "")
	m = msg(m, 5, tensor("scores", "FP32", []int64{int64(n), 3}, msg(nil, 6, scores)))
	m = msg(m, 5, tensor("label", "INT64", []int64{int64(n)}, msg(nil, 3, labels)))
	return m
}
