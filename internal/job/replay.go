package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
)

// ReplayOptions say which dead letters ReplayDeadLetters replays and how.
type ReplayOptions struct {
	bus.DeadLetterFilter
	// Again replays records already marked replayed too. A webhook
	// replayed again still makes no second row (one row per message and
	// item); within the duplicate window JetStream drops it outright.
	Again bool
	// DryRun says what would be replayed and changes nothing.
	DryRun bool
	// Progress, when set, is told (done, total) after each record.
	Progress func(done, total int)
}

// Outcomes of one record's replay.
const (
	Replayed        = "replayed"         // republished, or its media row reset and queued
	WouldReplay     = "would_replay"     // DryRun
	AlreadyReplayed = "already_replayed" // marked before (see Again), or a duplicate within the window
	OriginalGone    = "original_gone"    // the original message aged out of its stream
	NothingToDo     = "nothing_to_do"    // a download whose row is gone, succeeded or has nothing to download
	ReplayFailed    = "failed"
)

// ReplayItem is one record and what its replay did.
type ReplayItem struct {
	Record  bus.DeadLetter
	Outcome string
	Detail  string // where it went, or why not
}

// ReplayReport is what ReplayDeadLetters did, record by record.
type ReplayReport struct {
	Items    []ReplayItem
	Replayed int // replayed (or, DryRun, would be)
	Skipped  int // already replayed, original gone, nothing to do
	Failed   int
}

// ReplayDeadLetters replays the dead-letter records o selects, oldest first,
// and marks each replayed one (bus.MarkReplayed). A parked webhook is
// republished to its stream as it was (bus.Republish): once the cause is
// fixed (say, `tenant add` of an unknown instance) it makes its rows. A
// parked download is reprocessed: its media row goes back to pending and a
// fresh job is queued (ReprocessMedia). The error is for the listing only;
// a record that fails is counted and the others go on.
func ReplayDeadLetters(ctx context.Context, rows Rows, js jetstream.JetStream, o ReplayOptions) (ReplayReport, error) {
	var rep ReplayReport
	recs, err := bus.ListDeadLetters(ctx, js, o.DeadLetterFilter)
	if err != nil {
		return rep, err
	}
	for i := len(recs) - 1; i >= 0; i-- { // oldest first, as they arrived
		item := replayOne(ctx, rows, js, recs[i], o)
		switch item.Outcome {
		case Replayed, WouldReplay:
			rep.Replayed++
		case ReplayFailed:
			rep.Failed++
		default:
			rep.Skipped++
		}
		rep.Items = append(rep.Items, item)
		if o.Progress != nil {
			o.Progress(len(rep.Items), len(recs))
		}
	}
	return rep, nil
}

func replayOne(ctx context.Context, rows Rows, js jetstream.JetStream, rec bus.DeadLetter, o ReplayOptions) ReplayItem {
	item := ReplayItem{Record: rec}
	set := func(outcome, detail string) ReplayItem {
		item.Outcome, item.Detail = outcome, detail
		return item
	}
	if rec.Replayed != nil && !o.Again {
		return set(AlreadyReplayed, "replayed "+rec.Replayed.At.Format(time.RFC3339)+" to "+rec.Replayed.To)
	}
	var mediaID int64
	if rec.Stream == bus.StreamDownloads {
		id, err := downloadMediaID(ctx, js, rec)
		if err != nil {
			return set(ReplayFailed, err.Error())
		}
		mediaID = id
	}
	if o.DryRun {
		if mediaID != 0 {
			return set(WouldReplay, "media "+strconv.FormatInt(mediaID, 10))
		}
		return set(WouldReplay, rec.Stream+":"+strconv.FormatUint(rec.StreamSeq, 10))
	}

	var to string
	if mediaID != 0 {
		_, err := ReprocessMedia(ctx, rows, js, mediaID)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
			return set(NothingToDo, fmt.Sprintf("media %d is no longer in the catalogue", mediaID))
		case errors.Is(err, catalog.ErrNotReprocessable):
			return set(NothingToDo, fmt.Sprintf("media %d succeeded since, or has nothing to download", mediaID))
		case err != nil:
			return set(ReplayFailed, err.Error())
		}
		to = "media " + strconv.FormatInt(mediaID, 10)
	} else {
		ack, err := bus.Republish(ctx, js, rec.Stream, rec.StreamSeq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return set(OriginalGone, fmt.Sprintf("%s #%d aged out of its stream", rec.Stream, rec.StreamSeq))
		case err != nil:
			return set(ReplayFailed, err.Error())
		}
		to = ack.Stream + ":" + strconv.FormatUint(ack.Sequence, 10)
		if ack.Duplicate {
			item.Outcome = AlreadyReplayed
		}
	}
	if err := bus.MarkReplayed(ctx, js, bus.Replay{Seq: rec.Seq, To: to}); err != nil {
		return set(ReplayFailed, fmt.Sprintf("replayed to %s but not marked: %v", to, err))
	}
	if item.Outcome == AlreadyReplayed {
		return set(AlreadyReplayed, "JetStream already holds its replay "+to)
	}
	return set(Replayed, to)
}

// downloadMediaID reads the media id of a parked download job: from the
// original job while its stream holds it, else from the record.
func downloadMediaID(ctx context.Context, js jetstream.JetStream, rec bus.DeadLetter) (int64, error) {
	if st, err := js.Stream(ctx, rec.Stream); err == nil {
		if raw, err := st.GetMsg(ctx, rec.StreamSeq); err == nil {
			if d, err := Decode(raw.Data); err == nil {
				return d.MediaID, nil
			}
		}
	}
	switch v := rec.About["media_id"].(type) {
	case float64:
		if v > 0 {
			return int64(v), nil
		}
	case string:
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%s #%d: the job aged out and the record names no media_id", rec.Stream, rec.StreamSeq)
}
