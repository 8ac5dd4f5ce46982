package wapi

import (
	"encoding/json"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTmpCPU(t *testing.T) {
	corpus := webhookCorpus(4096, 1)
	runtime.LockOSThread()
	var p fastjson.Parser
	names := []string{"decode", "peek", "fastjson", "encjson"}
	fns := map[string]func([]byte){
		"decode":   func(b []byte) { Decode(b) },
		"peek":     func(b []byte) { Peek(b) },
		"fastjson": func(b []byte) { p.ParseBytes(b) },
		"encjson": func(b []byte) {
			type hook struct {
				Event, InstanceID, MessageID string
				Chat                         struct{ ID string }
				Sender                       struct{ ID, PushName string }
				Moment                       int64
				MsgContent                   map[string]json.RawMessage
			}
			var h hook
			json.Unmarshal(b, &h)
		},
	}
	best := map[string]time.Duration{}
	for r := 0; r < 30; r++ {
		for _, name := range names {
			n := 40960
			if name == "encjson" {
				n = 4096
			}
			start := threadCPU()
			for i := 0; i < n; i++ {
				fns[name](corpus[i%len(corpus)])
			}
			d := (threadCPU() - start) / time.Duration(n)
			if b, ok := best[name]; !ok || d < b {
				best[name] = d
			}
		}
	}
	for _, name := range names {
		t.Logf("%-9s %v cpu/op (%.0f/s) ratio to fastjson %.2f", name, best[name], 1/best[name].Seconds(), float64(best[name])/float64(best["fastjson"]))
	}
}
