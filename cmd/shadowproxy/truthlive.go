package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/tee"
)

// maxLabelsBody caps one POST /labels body; a larger one gets 413 and nothing of it is joined.
const maxLabelsBody = 16 << 20

// truthRoutes maps the routes with truth.prediction onto the online join's options.
func truthRoutes(cfg *configs.Config) (map[string]tee.TruthRouteOptions, error) {
	out := map[string]tee.TruthRouteOptions{}
	for _, r := range cfg.Routes {
		if r.Truth.Prediction == "" {
			continue
		}
		p, err := compare.NewPicker(r.Compare.Format, r.Truth.Prediction)
		if err != nil {
			return nil, err
		}
		out[r.Name] = tee.TruthRouteOptions{Picker: p, Window: r.Truth.Window.D(), MaxPending: r.Truth.MaxPending}
	}
	return out, nil
}

// labelOutcomes is the answer to POST /labels: how many labels had each outcome.
type labelOutcomes map[string]int

// joinLabels reads JSON lines of labels from r and joins each with the window.
func joinLabels(t *tee.Truth, r io.Reader) (labelOutcomes, error) {
	counts := labelOutcomes{tee.LabelJoined: 0, tee.LabelLate: 0, tee.LabelUnknown: 0, tee.LabelDuplicate: 0, tee.LabelMalformed: 0}
	err := eachLabel(r, func(l truthLabel, err error) {
		if err != nil {
			t.CountMalformed(l.Route)
			counts[tee.LabelMalformed]++
			return
		}
		counts[t.Label(l.ID, l.Route, l.Label)]++
	})
	if err != nil { // a line over 1 MiB: what follows it is not read, and says so
		t.CountMalformed("")
		counts[tee.LabelMalformed]++
		return counts, err
	}
	return counts, nil
}

// labelsHandler serves POST /labels: JSON lines {"id":..,"label":..,"route"?:..}.
func (a *app) labelsHandler(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, maxLabelsBody)
	// Read the whole body first: a body over the limit is refused whole, not joined in part.
	data, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "labels body over 16 MiB: send them in parts", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read labels: "+err.Error(), http.StatusBadRequest)
		return
	}
	counts, err := joinLabels(a.truth, bytes.NewReader(data))
	if err != nil {
		http.Error(w, "labels: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(counts)
}

// labelsConsumer reads labels from a Kafka topic with a consumer group until closed.
type labelsConsumer struct {
	reader *kafka.Reader
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLabelsConsumer starts reading k, joining what it reads with t. Each message holds one label,
// or several as JSON lines.
func startLabelsConsumer(k *configs.LabelsKafka, t *tee.Truth, log *zap.Logger) *labelsConsumer {
	group := k.Group
	if group == "" {
		group = "shadowproxy-labels"
	}
	c := &labelsConsumer{reader: kafka.NewReader(kafka.ReaderConfig{
		Brokers:        k.Brokers,
		Topic:          k.Topic,
		GroupID:        group,
		MaxBytes:       maxLabelsBody,
		MaxWait:        500 * time.Millisecond,
		CommitInterval: time.Second,
		StartOffset:    kafka.FirstOffset,
	})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			m, err := c.reader.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("labels topic", zap.String("topic", k.Topic), zap.Error(err))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			_, _ = joinLabels(t, bytes.NewReader(m.Value))
		}
	}()
	return c
}

// close stops reading, commits what was read, and waits for the reader's goroutine.
func (c *labelsConsumer) close() error {
	if c == nil {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	return c.reader.Close()
}
