package admin

import (
	"math"
	"strconv"

	"github.com/multichat/mediapipe/internal/catalog"
)

// The charts are inline SVG laid out here and drawn by the templates: no
// script, no library. Colours come from the stylesheet, by class.

// barChart is a horizontal bar chart of labelled counts (types, statuses).
type barChart struct {
	Width, Height float64
	X, TrackW     float64 // where the bars start, and their longest length
	BarH          float64
	Bars          []hbar
}

type hbar struct {
	Label, Class, Href string
	Value              int64
	Y, W               float64 // top and length of the bar
	TextY, ValueX      float64
}

const (
	barLabelW = 96.0
	barValueW = 64.0
	barRow    = 28.0
	barHeight = 18.0
	barWidth  = 460.0
)

// barX is where the bars start (right of the labels).
const barX = barLabelW

func newBarChart(items []count, class, href func(string) string) barChart {
	area := barWidth - barLabelW - barValueW
	c := barChart{Width: barWidth, Height: barRow*float64(len(items)) + 4, X: barX, TrackW: area, BarH: barHeight}
	var top int64
	for _, it := range items {
		top = max(top, it.N)
	}
	for i, it := range items {
		b := hbar{Label: it.Key, Class: class(it.Key), Href: href(it.Key), Value: it.N, Y: barRow*float64(i) + 4}
		if top > 0 && it.N > 0 {
			b.W = max(2, area*float64(it.N)/float64(top))
		}
		b.TextY = b.Y + barHeight - 4
		b.ValueX = barX + area + 8
		c.Bars = append(c.Bars, b)
	}
	return c
}

// columnChart is a column per day with a y axis.
type columnChart struct {
	Width, Height          float64
	Left, Right, Top, Base float64 // the plot area; Base is the x axis
	Columns                []column
	Ticks                  []tick
	Total                  int64
}

type column struct {
	X, Y, W, H float64
	Day        string // 2025-06-01, for the tooltip
	Label      string // shown under some columns
	LabelX     float64
	Value      int64
}

type tick struct {
	Y     float64
	Label string
}

const (
	colWidth   = 960.0
	colHeight  = 240.0
	colLeft    = 44.0
	colRight   = 8.0
	colTop     = 10.0
	colBottom  = 26.0
	colTicks   = 5  // about this many intervals on the y axis
	colLabels  = 10 // at most this many day labels
	colBarFill = 0.72
)

func newColumnChart(days []catalog.DayCount) columnChart {
	c := columnChart{
		Width: colWidth, Height: colHeight,
		Left: colLeft, Right: colWidth - colRight, Top: colTop, Base: colHeight - colBottom,
	}
	var top int64
	for _, d := range days {
		top = max(top, d.Count)
		c.Total += d.Count
	}
	end, step := niceAxis(top, colTicks)
	scale := float64(end)
	plotH := c.Base - c.Top
	for v := int64(0); v <= end; v += step {
		c.Ticks = append(c.Ticks, tick{Y: c.Base - plotH*float64(v)/scale, Label: strconv.FormatInt(v, 10)})
	}
	if len(days) == 0 {
		return c
	}
	slot := (c.Right - c.Left) / float64(len(days))
	every := (len(days) + colLabels - 1) / colLabels
	for i, d := range days {
		h := plotH * float64(d.Count) / scale
		if d.Count > 0 {
			h = max(h, 1.5)
		}
		col := column{
			X: c.Left + slot*float64(i) + slot*(1-colBarFill)/2, W: slot * colBarFill,
			Y: c.Base - h, H: h, Value: d.Count, Day: d.Day.Format("2006-01-02"),
			LabelX: c.Left + slot*float64(i) + slot/2,
		}
		// Label the last day and every few before it.
		if (len(days)-1-i)%every == 0 {
			col.Label = d.Day.Format("Jan 2")
		}
		c.Columns = append(c.Columns, col)
	}
	return c
}

// niceAxis lays out a y axis from 0 for counts up to top with Heckbert's
// "nice numbers" (Graphics Gems, 1990): the range is rounded up to a nice
// number, the step is the nice number nearest range/intervals, and the axis
// ends at the first multiple of the step at or above top. Nice numbers are
// 1, 2 or 5 times a power of ten; counts keep a step of at least 1. For 90
// media and 5 intervals the axis is 0, 20, …, 100.
func niceAxis(top int64, intervals int) (end, step int64) {
	top = max(top, 1)
	rng := niceNum(float64(top), false)
	step = max(int64(niceNum(rng/float64(max(intervals, 1)), true)), 1)
	end = (top + step - 1) / step * step
	return end, step
}

// niceNum returns a nice number near x > 0: the one nearest x when round is
// set, else the smallest at or above x.
func niceNum(x float64, round bool) float64 {
	exp := math.Floor(math.Log10(x))
	pow := math.Pow(10, exp)
	f := x / pow // 1 <= f < 10
	var nice float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nice = 1
	case round && f < 3, !round && f <= 2:
		nice = 2
	case round && f < 7, !round && f <= 5:
		nice = 5
	default:
		nice = 10
	}
	return nice * pow
}
