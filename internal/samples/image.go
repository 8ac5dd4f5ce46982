package samples

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// gradient draws a w×h diagonal colour gradient.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{
				R: uint8(255 * x / max(w-1, 1)),
				G: uint8(255 * y / max(h-1, 1)),
				B: uint8(255 - 255*(x+y)/max(w+h-2, 1)),
				A: 255,
			})
		}
	}
	return img
}

// JPEG returns a w×h gradient encoded by image/jpeg.
func JPEG(w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), &jpeg.Options{Quality: 80}); err != nil {
		panic(err) // cannot fail on a bytes.Buffer
	}
	return b.Bytes()
}

// PNG returns a w×h gradient encoded by image/png.
func PNG(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		panic(err) // cannot fail on a bytes.Buffer
	}
	return b.Bytes()
}

// Thumbnail returns a tiny JPEG like the jpegThumbnail of a message.
func Thumbnail() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(32, 24), &jpeg.Options{Quality: 50}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Waveform returns a 64-sample voice-note waveform (values 0..100), as sent
// base64-encoded in audioMessage.waveform.
func Waveform() []byte {
	w := make([]byte, 64)
	for i := range w {
		// A rising and falling envelope with some texture.
		v := 50 - abs(i-32)*3/2 + (i*37)%17
		w[i] = byte(min(max(v, 0), 100))
	}
	return w
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
