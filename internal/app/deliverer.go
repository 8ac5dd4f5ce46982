package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/events/deliver"
)

// delivererConcurrency is how many callback posts a deliverer process runs
// at once, over every endpoint (each endpoint has deliver.DefaultPerEndpoint
// at most): posts mostly wait on the network.
const delivererConcurrency = 256

// runRelay publishes the catalogue's committed events to EVENTS. It runs
// with the deliverer role: one relay per database is enough, and several
// (replicas of the role) share the outbox safely.
func (a *App) runRelay(ctx context.Context) error {
	relay := &events.Relay{
		Outbox: a.Store, JS: a.JS, APIBase: a.Cfg.APIPublicURL, Log: a.Log.Named("relay"),
		Published: a.eventMetrics().Published,
	}
	return relay.Run(ctx)
}

// runDeliverer posts the EVENTS messages to the clientes' callback
// endpoints.
func (a *App) runDeliverer(ctx context.Context) error {
	cons, err := a.JS.Consumer(ctx, bus.StreamEvents, bus.ConsumerDeliverer)
	if err != nil {
		return fmt.Errorf("opening the deliverer consumer: %w", err)
	}
	var pulling atomic.Bool
	a.addReadyCheck("deliverer", func(context.Context) error {
		if !pulling.Load() {
			return errors.New("not started yet")
		}
		return nil
	})
	d := deliver.New(a.Store, deliver.Options{
		Timeout: a.Cfg.CallbackTimeout, AllowPrivate: a.Cfg.CallbackAllowPrivate, RetryHorizon: a.Cfg.CallbackRetryHorizon,
		Log: a.Log.Named("deliverer"), Metrics: a.eventMetrics(),
	})
	s := a.settler()
	s.Describe = deliver.Describe
	if a.opts.BackoffMax == 0 {
		s.BackoffMax = a.Cfg.CallbackBackoffMax
	}
	pulling.Store(true)
	return bus.Run(ctx, cons, bus.WorkerOptions{
		Handler: a.Metrics.Messages("deliverer", d.Handle), Concurrency: delivererConcurrency, MaxWait: time.Second,
		StopTimeout: a.Cfg.CallbackTimeout + 5*time.Second, Settler: s, Logger: a.Log.Named("deliverer"),
	})
}

// eventMetrics registers the relay's and deliverer's metrics once.
func (a *App) eventMetrics() *deliver.Metrics {
	a.eventMetricsOnce.Do(func() {
		a.eventMetricsValue = deliver.NewMetrics(a.Metrics.Registry)
		deliver.WatchUnpublished(a.Metrics.Registry, a.Store.UnpublishedEvents)
	})
	return a.eventMetricsValue
}
