package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// glyphCheck is what cjkGlyphJS finds: the element's first Chinese
// character, the font family it is set in, and whether that character
// drew the same pixels as U+E000, a private-use code point no installed
// font has.
type glyphCheck struct {
	Error string `json:"error"`
	Char  string `json:"char"`
	Font  string `json:"font"`
	Ink   int    `json:"ink"`
	Tofu  bool   `json:"tofu"`
}

// cjkGlyphJS draws the first Chinese character of the element %q and
// U+E000 onto canvases in the element's computed font. Without a font for
// the character both are the same font's missing-glyph box (tofu), pixel
// for pixel; a real glyph differs from it.
const cjkGlyphJS = `((sel) => {
  const el = document.querySelector(sel);
  if (!el) return {error: 'no element ' + sel};
  const ch = Array.from(el.textContent).find(c => /\p{Script=Han}/u.test(c));
  if (!ch) return {error: 'no Chinese character in ' + JSON.stringify(el.textContent)};
  const cs = getComputedStyle(el);
  const alpha = c => {
    const cv = document.createElement('canvas');
    cv.width = cv.height = 64;
    const g = cv.getContext('2d');
    g.font = cs.fontWeight + ' 48px ' + cs.fontFamily;
    g.textBaseline = 'top';
    g.fillText(c, 8, 8);
    return Array.from(g.getImageData(0, 0, 64, 64).data).filter((v, i) => i %% 4 === 3);
  };
  const glyph = alpha(ch), box = alpha('\uE000');
  return {char: ch, font: cs.fontFamily, ink: glyph.filter(a => a > 0).length, tofu: glyph.every((a, i) => a === box[i])};
})(%q)`

// cjkDrawn fails the test when the Chinese text of the element sel is
// drawn as tofu: Chromium found no font for it (Debian's fonts-noto-cjk,
// which make deps installs).
func (b *tab) cjkDrawn(t *testing.T, sel string) {
	t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[glyphCheck](fmt.Sprintf(cjkGlyphJS, sel)))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case got.Error != "":
		t.Errorf("Chinese glyphs of %s: %s", sel, got.Error)
	case got.Tofu || got.Ink == 0:
		t.Errorf("%s: %q in font %s is drawn as a missing-glyph box (%d pixels), not a glyph: no CJK font (apt-get install -y fonts-noto-cjk, or make deps as root)",
			sel, got.Char, got.Font, got.Ink)
	default:
		t.Logf("%s: %q drawn in %s (%d pixels, not the missing-glyph box)", sel, got.Char, got.Font, got.Ink)
	}
}
