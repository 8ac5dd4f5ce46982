package wapi

import (
	"testing"
)

func TestTmpSizes(t *testing.T) {
	c := webhookCorpus(4096, 1)
	sum := map[string][2]int{}
	tot := 0
	for _, b := range c {
		ev, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		k := ev.Kind
		if len(ev.Media) > 0 {
			k = string(ev.Media[0].Type)
		}
		s := sum[k]
		s[0]++
		s[1] += len(b)
		sum[k] = s
		tot += len(b)
	}
	for k, s := range sum {
		t.Logf("%-20s %5d (%.1f%%) avg %d", k, s[0], 100*float64(s[0])/float64(len(c)), s[1]/s[0])
	}
	t.Logf("avg %d", tot/len(c))
}
