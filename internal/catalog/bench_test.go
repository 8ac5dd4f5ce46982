package catalog_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// BenchmarkRecordMessages measures the analyzer's write path: batches of 256
// message events from 4 instances and 400 chats, a quarter (or all) of them
// carrying one media item of a mixed type, as many batches in flight as
// analyzer goroutines. The figure to watch is msgs/s (the target is 10,000).
func BenchmarkRecordMessages(b *testing.B) {
	for _, bc := range []struct {
		mediaEvery, writers int
	}{{4, 1}, {4, 4}, {1, 1}, {1, 4}} {
		b.Run(fmt.Sprintf("media=%d%%/writers=%d", 100/bc.mediaEvery, bc.writers), func(b *testing.B) {
			benchmarkRecord(b, bc.mediaEvery, bc.writers)
		})
	}
}

func benchmarkRecord(b *testing.B, mediaEvery, writers int) {
	const batch = 256
	ctx := context.Background()
	store, _ := pgtest.NewStore(b)
	instances := []string{"3B6XIW-ZTS923-GEAY6V", "LITE-8NDQT1-UWX43P", "3B6XIW-ZTS923-AAAAAA", "LITE-8NDQT1-BBBBBB"}
	for i, id := range instances {
		if _, err := operator.New(store).Register(ctx, fmt.Sprintf("cliente-%d", i%2), id, "token"); err != nil {
			b.Fatal(err)
		}
	}
	// Templates: message ids are made unique per batch below.
	types := []wamedia.MediaType{wamedia.Image, wamedia.Image, wamedia.Audio, wamedia.Audio, wamedia.Video, wamedia.Document, wamedia.Sticker}
	template := make([]catalog.Message, batch)
	for i := range template {
		m := catalog.Message{
			InstanceID:   instances[i%len(instances)],
			Event:        "webhookReceived",
			ChatRemoteID: fmt.Sprintf("55119%08d", i%100),
			ChatJID:      fmt.Sprintf("55119%08d@s.whatsapp.net", i%100),
			SenderID:     fmt.Sprintf("55119%08d", i%100),
			SenderName:   "Maria",
			Moment:       time.Now(),
		}
		if i%10 == 0 {
			m.ChatRemoteID, m.ChatJID, m.IsGroup, m.ChatName = "120363000000000001@g.us", "120363000000000001@g.us", true, "Família"
		}
		if i%mediaEvery == 0 {
			d := descriptor(types[i%len(types)])
			if d.Type == wamedia.Audio {
				d.Thumbnail = nil
			}
			m.Media = []wamedia.Descriptor{d}
		}
		template[i] = m
	}

	var seq atomic.Int64
	next := func() []catalog.Message {
		n := seq.Add(1)
		msgs := make([]catalog.Message, batch)
		copy(msgs, template)
		for i := range msgs {
			msgs[i].MessageID = fmt.Sprintf("3EB0%010X%06X", n, i)
		}
		return msgs
	}

	b.ResetTimer()
	var wg sync.WaitGroup
	var perWriter atomic.Int64
	perWriter.Store(int64(b.N))
	for range writers {
		wg.Go(func() {
			for perWriter.Add(-1) >= 0 {
				if _, err := store.RecordMessages(ctx, next()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*batch/mediaEvery)/b.Elapsed().Seconds(), "rows/s")
}
