package wapi

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecode decodes and extracts a realistic mix of webhooks (see
// webhookCorpus). Run it on one core:
//
//	go test ./pkg/wapi -run '^$' -bench Decode -cpu 1
func BenchmarkDecode(b *testing.B) {
	corpus := webhookCorpus(4096, 1)
	total := 0
	for _, w := range corpus {
		total += len(w)
	}
	b.SetBytes(int64(total / len(corpus)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := Decode(corpus[i%len(corpus)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
	b.ReportMetric(float64(total/len(corpus)), "bytes/webhook")
}

// BenchmarkPeek is the ingest's per-request read.
func BenchmarkPeek(b *testing.B) {
	corpus := webhookCorpus(4096, 1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Peek(corpus[i%len(corpus)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}

// BenchmarkEncodingJSON is the baseline the brief measured: encoding/json
// into structs, without extraction.
func BenchmarkEncodingJSON(b *testing.B) {
	corpus := webhookCorpus(4096, 1)
	type hook struct {
		Event, InstanceID, MessageID string
		Chat                         struct{ ID string }
		Sender                       struct{ ID, PushName string }
		Moment                       int64
		MsgContent                   map[string]json.RawMessage
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var h hook
		if err := json.Unmarshal(corpus[i%len(corpus)], &h); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}
