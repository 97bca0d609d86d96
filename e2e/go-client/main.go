// crisp-go-client: drives crisp's gRPC server with grpc-go, the HTTP/2 and gRPC stack kubelet and
// crictl use, and prints what it saw as one JSON object per check. e2e/test/go-client.test.ts builds
// it with Debian's Go and grpc-go and asserts on its output. Requests and answers are encoded by hand
// (field numbers from protos/cri/api.proto) because the CRI's Go code isn't packaged in Debian.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	runtimeService = "/runtime.v1.RuntimeService/"
	imageService   = "/runtime.v1.ImageService/"
)

// rawCodec hands the bytes of a message through untouched; it keeps the name "proto" so the
// content-type is application/grpc+proto as with generated code.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// bytesField appends a length-delimited field (strings, bytes, messages).
func bytesField(b []byte, field int, value []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(value)))
	return append(b, value...)
}

func varintField(b []byte, field int, value uint64) []byte {
	b = appendVarint(b, uint64(field)<<3)
	return appendVarint(b, value)
}

// fields decodes the top level of a message: the last value of each length-delimited field, the
// count of each field, and varint values.
type decoded struct {
	bytes   map[int][]byte
	count   map[int]int
	varints map[int]uint64
}

func decode(b []byte) (decoded, error) {
	d := decoded{bytes: map[int][]byte{}, count: map[int]int{}, varints: map[int]uint64{}}
	readVarint := func() (uint64, error) {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			if len(b) == 0 {
				return 0, errors.New("truncated varint")
			}
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, nil
			}
		}
		return 0, errors.New("varint too long")
	}
	for len(b) > 0 {
		key, err := readVarint()
		if err != nil {
			return d, err
		}
		field, wire := int(key>>3), key&7
		d.count[field]++
		switch wire {
		case 0:
			v, err := readVarint()
			if err != nil {
				return d, err
			}
			d.varints[field] = v
		case 2:
			n, err := readVarint()
			if err != nil {
				return d, err
			}
			if uint64(len(b)) < n {
				return d, errors.New("truncated field")
			}
			d.bytes[field] = b[:n]
			b = b[n:]
		default:
			return d, fmt.Errorf("wire type %d not expected", wire)
		}
	}
	return d, nil
}

type result map[string]interface{}

var out = json.NewEncoder(os.Stdout)

func report(check string, r result) {
	r["check"] = check
	if err := out.Encode(r); err != nil {
		panic(err)
	}
}

func codeOf(err error) string {
	return status.Code(err).String()
}

func invoke(ctx context.Context, conn *grpc.ClientConn, method string, req []byte, opts ...grpc.CallOption) ([]byte, error) {
	var reply []byte
	opts = append(opts, grpc.ForceCodec(rawCodec{}))
	err := conn.Invoke(ctx, method, &req, &reply, opts...)
	return reply, err
}

func version(ctx context.Context, conn *grpc.ClientConn, opts ...grpc.CallOption) (string, error) {
	reply, err := invoke(ctx, conn, runtimeService+"Version", bytesField(nil, 1, []byte("v1")), opts...)
	if err != nil {
		return "", err
	}
	d, err := decode(reply)
	if err != nil {
		return "", err
	}
	return string(d.bytes[2]), nil
}

func main() {
	socket := flag.String("socket", "", "crisp's unix socket")
	containerID := flag.String("container", "", "a running container with sh, head and sleep, for ExecSync")
	execBytes := flag.Int("exec-bytes", 8_000_000, "stdout size of the large ExecSync answer")
	flag.Parse()
	if *socket == "" || *containerID == "" {
		fmt.Fprintln(os.Stderr, "usage: crisp-go-client -socket PATH -container ID")
		os.Exit(2)
	}

	// As kubelet's remote runtime client: a context dialer on the socket, large message limits.
	conn, err := grpc.Dial("crisp", grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", *socket)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16*1024*1024), grpc.MaxCallSendMsgSize(32*1024*1024)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	bg := context.Background()
	timeout := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(bg, d) }

	{
		ctx, cancel := timeout(10 * time.Second)
		resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		cancel()
		r := result{"code": codeOf(err)}
		if err == nil {
			r["status"] = resp.Status.String()
		}
		report("health", r)
	}

	{
		ctx, cancel := timeout(10 * time.Second)
		name, err := version(ctx, conn)
		cancel()
		report("version", result{"code": codeOf(err), "runtimeName": name})
	}

	{
		ctx, cancel := timeout(10 * time.Second)
		name, err := version(ctx, conn, grpc.UseCompressor("gzip"))
		cancel()
		report("gzip", result{"code": codeOf(err), "runtimeName": name})
	}

	{
		// 64 goroutines, 2048 calls, one connection: more streams than one SETTINGS round allows.
		var ok, failed int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		ctx, cancel := timeout(60 * time.Second)
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 32; i++ {
					if name, err := version(ctx, conn); err != nil || name != "crisp" {
						atomic.AddInt64(&failed, 1)
						if err != nil {
							firstErr.CompareAndSwap(nil, err.Error())
						}
					} else {
						atomic.AddInt64(&ok, 1)
					}
				}
			}()
		}
		wg.Wait()
		cancel()
		r := result{"ok": ok, "failed": failed}
		if e := firstErr.Load(); e != nil {
			r["firstError"] = e
		}
		report("concurrent", r)
	}

	{
		// A 12 MiB request (crisp accepts 16 MiB): many flow-control windows from client to server.
		ctx, cancel := timeout(30 * time.Second)
		req := bytesField(nil, 1, []byte(strings.Repeat("v", 12*1024*1024)))
		reply, err := invoke(ctx, conn, runtimeService+"Version", req)
		cancel()
		d, _ := decode(reply)
		report("large-request", result{"code": codeOf(err), "runtimeName": string(d.bytes[2]), "versionBytes": len(d.bytes[1])})
	}

	{
		ctx, cancel := timeout(30 * time.Second)
		req := bytesField(nil, 1, []byte(strings.Repeat("v", 20*1024*1024)))
		_, err := invoke(ctx, conn, runtimeService+"Version", req)
		cancel()
		report("too-large-request", result{"code": codeOf(err), "message": status.Convert(err).Message()})
	}

	{
		ctx, cancel := timeout(10 * time.Second)
		_, err := invoke(ctx, conn, runtimeService+"NoSuchMethod", nil)
		cancel()
		report("unknown-method", result{"code": codeOf(err), "message": status.Convert(err).Message()})
	}

	{
		ctx, cancel := timeout(10 * time.Second)
		_, err := invoke(ctx, conn, runtimeService+"ContainerStatus", bytesField(nil, 1, []byte("no-such-container")))
		cancel()
		report("not-found", result{"code": codeOf(err), "message": status.Convert(err).Message()})
	}

	execSync := func(ctx context.Context, script string, timeoutSeconds uint64) (decoded, error) {
		req := bytesField(nil, 1, []byte(*containerID))
		for _, arg := range []string{"sh", "-c", script} {
			req = bytesField(req, 2, []byte(arg))
		}
		req = varintField(req, 3, timeoutSeconds)
		reply, err := invoke(ctx, conn, runtimeService+"ExecSync", req)
		if err != nil {
			return decoded{}, err
		}
		return decode(reply)
	}

	{
		// A large answer: server-to-client flow control against grpc-go's BDP-sized windows and pings.
		ctx, cancel := timeout(60 * time.Second)
		start := time.Now()
		d, err := execSync(ctx, fmt.Sprintf("head -c %d /dev/zero | tr '\\0' a; echo -n err >&2; exit 4", *execBytes), 0)
		cancel()
		allA := strings.Count(string(d.bytes[1]), "a") == len(d.bytes[1])
		report("large-response", result{"code": codeOf(err), "stdoutBytes": len(d.bytes[1]), "allA": allA,
			"stderr": string(d.bytes[2]), "exitCode": d.varints[3], "ms": time.Since(start).Milliseconds()})
	}

	{
		// The client's own deadline (grpc-timeout) ends the call; the connection stays usable.
		ctx, cancel := timeout(300 * time.Millisecond)
		start := time.Now()
		_, err := execSync(ctx, "sleep 5", 0)
		cancel()
		elapsed := time.Since(start).Milliseconds()
		ctx, cancel = timeout(10 * time.Second)
		name, verr := version(ctx, conn)
		cancel()
		report("deadline", result{"code": codeOf(err), "ms": elapsed, "afterCode": codeOf(verr), "afterRuntimeName": name})
	}

	{
		// A server stream: health Watch answers SERVING, then the client cancels it.
		ctx, cancel := context.WithCancel(bg)
		stream, err := grpc_health_v1.NewHealthClient(conn).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
		r := result{"code": codeOf(err)}
		if err == nil {
			first, err := stream.Recv()
			r["code"] = codeOf(err)
			if err == nil {
				r["status"] = first.Status.String()
			}
			cancel()
			_, err = stream.Recv()
			r["afterCancel"] = codeOf(err)
		}
		cancel()
		report("watch", r)
	}

	{
		// The connection is still one connection, still serving, after all of the above.
		ctx, cancel := timeout(10 * time.Second)
		reply, err := invoke(ctx, conn, imageService+"ImageFsInfo", nil)
		cancel()
		d, _ := decode(reply)
		report("image-fs-info", result{"code": codeOf(err), "imageFilesystems": d.count[1]})
	}
}
