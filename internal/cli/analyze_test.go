package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/cli"
)

const wapiSamples = "../../pkg/wapi/testdata"

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wapiSamples, name))
	require.NoError(t, err)
	return string(b)
}

// compact returns a sample on one line.
func compact(t *testing.T, name string) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, []byte(sample(t, name))))
	return buf.String()
}

func analyze(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runWithEnv(t, nil, stdin, append([]string{"analyze"}, args...)...)
}

func TestAnalyzePrettyObjectFile(t *testing.T) {
	t.Parallel()
	code, out, errOut := analyze(t, "", filepath.Join(wapiSamples, "ephemeral_viewonce_audio.json"))
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Empty(t, errOut)
	for _, want := range []string{
		"=== webhook 1 (line 1)\n", "Event:           webhookReceived\n", "Instance:        3B6XIW-ZTS923-GEAY6V\n",
		"Message ID:      3EB0173BF955C35D1809\n", "Time:            2025-06-02T20:31:26Z\n", "Group:           no\n",
		"From me:         no\n", "Chat:            5511911112222@s.whatsapp.net", `Sender:          "Maria" <5511911112222@s.whatsapp.net>`,
		"  #1 audio (audioMessage)\n", "Mimetype:        audio/ogg; codecs=opus\n", "Extension:       .ogg\n",
		"Size:            15.5 KiB (15840 bytes, as declared)\n", "Duration:        5s\n", "Voice note:      yes\n",
		"Flags:           view once, ephemeral\n", "Downloadable:    yes\n", "mediaKey:        iCs1oD…\n",
		"=== summary\nwebhooks:         1\nevents:           webhookReceived 1\nmedia:            audio 1\n" +
			"downloadable:     1\nnot downloadable: 0\nnot valid JSON:   none\n",
	} {
		require.Contains(t, out, want)
	}
}

func TestAnalyzeJSONLinesWithBadLines(t *testing.T) {
	t.Parallel()
	input := strings.Join([]string{
		compact(t, "audio_ptt.json"),
		"not json at all",
		"",
		`{"event":"webhookReceived", "msgContent": {`, // truncated: ends at the next record
		compact(t, "missing_fields_image.json"),
		"[1,2]",
		compact(t, "status_read.json"),
	}, "\n") + "\n"
	code, out, errOut := analyze(t, input)
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "line 2: invalid webhook JSON at byte 0: invalid literal, want null")
	require.Contains(t, errOut, "line 4: invalid webhook JSON at byte 43: unexpected end of input")
	require.Contains(t, errOut, "line 6: invalid webhook JSON at byte 0: want a JSON object, found an array")
	// Every good line is still reported, after the bad ones too.
	require.Contains(t, out, "=== webhook 1 (line 1)")
	require.Contains(t, out, "=== webhook 2 (line 5)")
	require.Contains(t, out, "=== webhook 3 (line 7)")
	require.Contains(t, out, "Downloadable:    no: mediaKey missing")
	require.Contains(t, out, "webhooks:         3\nevents:           webhookReceived 2, webhookStatus 1\nmedia:            audio 1, image 1\n"+
		"downloadable:     1\nnot downloadable: 1\nnot valid JSON:   lines 2, 4, 6\n")
}

func TestAnalyzeJSON(t *testing.T) {
	t.Parallel()
	input := compact(t, "image.json") + "\n" + compact(t, "connected.json") + "\n{oops\n"
	code, out, errOut := analyze(t, input, "--json", "-")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "line 3:")

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	var ev struct {
		Line       int     `json:"line"`
		Event      string  `json:"event"`
		InstanceID string  `json:"instanceId"`
		MessageID  string  `json:"messageId"`
		ChatID     string  `json:"chatId"`
		SenderID   string  `json:"senderId"`
		SenderName string  `json:"senderName"`
		IsGroup    *bool   `json:"isGroup"`
		FromMe     *bool   `json:"fromMe"`
		Moment     *string `json:"moment"`
		Media      []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ev))
	require.Equal(t, 1, ev.Line)
	require.Equal(t, "webhookReceived", ev.Event)
	require.Equal(t, "3B6XIW-ZTS923-GEAY6V", ev.InstanceID)
	require.Equal(t, "3EB06105D6CC76AF4003", ev.MessageID)
	require.Equal(t, "5511911112222", ev.ChatID)
	require.Equal(t, "5511911112222", ev.SenderID)
	require.Equal(t, "Maria", ev.SenderName)
	require.False(t, *ev.IsGroup)
	require.False(t, *ev.FromMe)
	require.Equal(t, "2025-06-02T20:31:26Z", *ev.Moment)
	require.Len(t, ev.Media, 1)
	m := ev.Media[0]
	require.Equal(t, "image", m["type"])
	require.Equal(t, "imageMessage", m["kind"])
	require.Equal(t, "image/jpeg", m["mimetype"])
	require.Equal(t, true, m["downloadable"])
	require.Equal(t, []any{}, m["problems"])
	require.Equal(t, ".jpg", m["extension"])
	require.EqualValues(t, 48213, m["fileLength"])
	require.Equal(t, "ruc5YC…", m["mediaKey"])
	require.Len(t, m["fileSha256"], 64) // hex
	require.NotContains(t, lines[0], "ruc5YCtwQXpF", "the whole media key leaked")

	var conn map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &conn))
	require.Equal(t, "webhookConnected", conn["event"])
	require.Equal(t, []any{}, conn["media"])

	var sum struct {
		Summary struct {
			Webhooks        int            `json:"webhooks"`
			Events          map[string]int `json:"events"`
			Media           map[string]int `json:"media"`
			Downloadable    int            `json:"downloadable"`
			NotDownloadable int            `json:"notDownloadable"`
			InvalidLines    []int          `json:"invalidLines"`
		} `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &sum))
	s := sum.Summary
	require.Equal(t, 2, s.Webhooks)
	require.Equal(t, map[string]int{"webhookReceived": 1, "webhookConnected": 1}, s.Events)
	require.Equal(t, map[string]int{"image": 1}, s.Media)
	require.Equal(t, 1, s.Downloadable)
	require.Equal(t, 0, s.NotDownloadable)
	require.Equal(t, []int{3}, s.InvalidLines)
}

func TestAnalyzeStdinAndMixedLayouts(t *testing.T) {
	t.Parallel()
	// Two pretty-printed objects, then an unfinished one cut short by a JSON
	// Lines record, then a blank line and a last record without a newline.
	truncated := strings.Join(strings.Split(sample(t, "video.json"), "\n")[:12], "\n")
	input := sample(t, "sticker.json") + sample(t, "status_read.json") + truncated + "\n" +
		compact(t, "ptv.json") + "\n\n" + compact(t, "document.json")
	code, out, errOut := analyze(t, input) // no FILE: standard input
	require.Equal(t, cli.ExitFailure, code)
	stickerLines := strings.Count(sample(t, "sticker.json"), "\n")
	statusLines := strings.Count(sample(t, "status_read.json"), "\n")
	bad := stickerLines + statusLines + 1
	require.Contains(t, errOut, "line "+strconv.Itoa(bad)+": invalid webhook JSON")
	require.Contains(t, out, "=== webhook 1 (line 1)")
	require.Contains(t, out, "=== webhook 2 (line "+strconv.Itoa(stickerLines+1)+")")
	require.Contains(t, out, "=== webhook 3 (line "+strconv.Itoa(bad+12)+")")
	require.Contains(t, out, "=== webhook 4 (line "+strconv.Itoa(bad+14)+")")
	require.Contains(t, out, "media:            document 1, sticker 1, video 1\n")
	require.Contains(t, out, "not valid JSON:   line "+strconv.Itoa(bad)+"\n")

	// Clean input exits 0; "-" is standard input.
	code, out, errOut = analyze(t, compact(t, "revoke.json")+"\n", "-")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Flags:           revokes 3EB04BB47F186DF233E4")
}

func TestAnalyzeLongLine(t *testing.T) {
	t.Parallel()
	long := `{"event":"webhookReceived","pad":"` + strings.Repeat("x", 17<<20) + `"}`
	code, out, errOut := analyze(t, long+"\n"+compact(t, "reaction.json")+"\n")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "line 1: line longer than 16 MiB")
	require.Contains(t, out, "=== webhook 1 (line 2)")

	// Just under the limit is fine.
	ok := `{"event":"webhookReceived","pad":"` + strings.Repeat("x", 15<<20) + `"}`
	code, out, errOut = analyze(t, ok)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "webhooks:         1\n")
}

func TestAnalyzeUsage(t *testing.T) {
	t.Parallel()
	code, _, errOut := analyze(t, "", "--help")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, errOut, "Usage: mediapipe analyze [--json] [--provider P] [FILE|-]")
	require.Contains(t, errOut, "JSON Lines")

	code, _, errOut = analyze(t, "", "a.json", "b.json")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, "at most one FILE")

	code, _, _ = analyze(t, "", "--bogus")
	require.Equal(t, cli.ExitUsage, code)

	code, _, errOut = analyze(t, "", filepath.Join(t.TempDir(), "missing.json"))
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "mediapipe analyze: open ")

	code, out, _ := analyze(t, "")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "webhooks:         0\n")
}
