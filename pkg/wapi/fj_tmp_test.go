package wapi

import (
	"testing"

	"github.com/valyala/fastjson"
)

func BenchmarkTmpFastjsonParse(b *testing.B) {
	corpus := webhookCorpus(4096, 1)
	var p fastjson.Parser
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v, err := p.ParseBytes(corpus[i%len(corpus)])
		if err != nil {
			b.Fatal(err)
		}
		_ = v.GetStringBytes("instanceId")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}
